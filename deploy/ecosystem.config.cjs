// PM2 process file for a VPS install (the plan's process manager): the composed server on 3013.
// Each service can instead run alone with `caas serve --service NAME` on the plan's port.
module.exports = {
  apps: [
    {
      name: "caas",
      script: ".venv/bin/caas",
      args: "serve",
      interpreter: "none",
      // SIGTERM drains calls in flight for up to CAAS_SHUTDOWN_GRACE_S (20 s) before exiting 0.
      kill_timeout: 25000,
      env: { CAAS_HOST: "127.0.0.1", CAAS_LOG_LEVEL: "INFO" },
    },
  ],
};
