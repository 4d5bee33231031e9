// The process wiring: flag/env config path, PORT override, readiness log, clean SIGTERM exit.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

it('starts from --config, serves, and exits 0 on SIGTERM', async () => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'apps/dev-idp/src/main.ts', '--config', 'config/demo/dev-idp.yaml'],
    {
      cwd: ROOT,
      // PORT=0: any free port, read back from the log. tsx needs the workspace path aliases.
      env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', TSX_TSCONFIG_PATH: 'tsconfig.base.json' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  try {
    let port: number | undefined;
    for await (const line of createInterface({ input: child.stdout })) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg === 'dev IdP listening') {
        port = entry.port;
        break;
      }
    }
    expect(port).toBeGreaterThan(0);
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(await res.text()).toBe('ok');

    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
