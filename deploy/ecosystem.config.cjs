// PM2 process file for a VPS install (the plan's process manager): every CaaS server on its plan port,
// the pages' and live updates' fronts and one worker process, from any working directory:
//   npm ci --prefix deploy/pm2 && deploy/pm2/node_modules/.bin/pm2 start deploy/ecosystem.config.cjs
// Settings and secrets (NEON_DATABASE_URL, SUPABASE_*, CAAS_PII_*, CAAS_JWT_SECRET, ...) come from the
// environment pm2 is started in or from the repository's `.env` (each process runs there), as
// deploy/.env.example lists them. tests/deploy/test_pm2.py starts this file with the real pm2.
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const env = process.env;
const caas = env.CAAS_BIN || path.join(root, ".venv", "bin", "caas");
// JSON lines on stderr (docs/operations.md, "Logs"), one file per process; stdout stays empty over HTTP.
const logDir = env.CAAS_LOG_DIR || path.join(root, "logs");
// SIGINT (pm2's stop signal) drains like SIGTERM: calls in flight finish within the grace period; pm2
// waits that long and a little more before it kills.
const graceS = Number(env.CAAS_SHUTDOWN_GRACE_S || 20);

// The plan's ports (PLAN_PORTS in mcp_servers/composition.py): the composed server and each service.
const SERVERS = {
  caas: 3013,
  notifications: 3003,
  documents: 3004,
  risk: 3005,
  payments: 3006,
  monitoring: 3007,
  providers: 3008,
  admin: 3012,
  credit: 3014,
};
// The people's side (mcp_servers/fronts.py): processes of the composed server for the pages and the live
// updates, `caas serve --front NAME`; nginx routes /provider/, /admin/ and /live/ to them. Behind nginx
// on a public host, name it in CAAS_PUBLIC_URL or CAAS_ALLOWED_HOSTS (docs/operations.md, "Pages").
const FRONTS = {
  provider: 3009,
  live: 3010,
  admin: 3015,
};

function app(name, args, extra = {}) {
  return {
    name,
    script: caas,
    args,
    interpreter: "none",
    cwd: root,
    exec_mode: "fork",
    autorestart: true,
    exp_backoff_restart_delay: 500,
    // Exit 2 is a configuration error and 3 a migration error (one line in the log says which):
    // restarting would not fix them. A database or port not there yet (4, 5) is retried.
    stop_exit_codes: [2, 3],
    kill_timeout: (graceS + 5) * 1000,
    error_file: path.join(logDir, `${name}.log`),
    out_file: path.join(logDir, `${name}.out.log`),
    time: false,
    env: {
      CAAS_HOST: env.CAAS_HOST || "127.0.0.1",
      CAAS_LOG_LEVEL: env.CAAS_LOG_LEVEL || "INFO",
      CAAS_LOG_FORMAT: "json",
      CAAS_SHUTDOWN_GRACE_S: String(graceS),
      // The worker process below runs the queues; servers only serve.
      CAAS_WORKERS: "false",
      ONASIS_GATEWAY_URL: env.ONASIS_GATEWAY_URL || "http://127.0.0.1:3000",
      MCP_SERVER_URL: env.MCP_SERVER_URL || "http://127.0.0.1:3001",
      ...extra,
    },
  };
}

module.exports = {
  apps: [
    ...Object.entries(SERVERS).map(([server, port]) =>
      server === "caas"
        ? app("caas", ["serve", "--port", String(port)])
        : app(`caas-${server}`, ["serve", "--service", server, "--port", String(port)]),
    ),
    ...Object.entries(FRONTS).map(([front, port]) =>
      app(`caas-front-${front}`, ["serve", "--front", front, "--port", String(port)]),
    ),
    // The outbox relay, every queue and the periodic jobs; several may run (`caas worker --queues` splits
    // them by queue). Without its own port it reports through its log only.
    app("caas-worker", ["worker"]),
  ],
};
