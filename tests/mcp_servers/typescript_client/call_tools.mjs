// Calls CaaS tools with the official MCP TypeScript SDK, as MCP Inspector does: the SDK checks each
// result's structuredContent against the tool's outputSchema and throws when it does not match.
// Usage: node call_tools.mjs '<json {url, token, calls: [{name, arguments}]}>'
// Prints one JSON array: per call, {result} or {thrown} (the error the SDK raised).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const { url, token, calls } = JSON.parse(process.argv[2]);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "caas-ts-test", version: "1.0.0" });
await client.connect(transport);
await client.listTools(); // the SDK keeps each tool's outputSchema to validate results with
const answers = [];
for (const call of calls) {
  try {
    answers.push({ result: await client.callTool(call) });
  } catch (error) {
    answers.push({ thrown: String(error?.message ?? error) });
  }
}
await client.close();
process.stdout.write(JSON.stringify(answers));
