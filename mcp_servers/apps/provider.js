// Provider dashboard: its sections, each calling the tools the signed-in principal may call.
"use strict";
caas.boot(async ({ mode, input, result }) => {
  void mode; void input; void result;
  void "{{TOOL:list_invitations}}";
});
