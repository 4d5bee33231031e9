import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface MainProcess {
  child: ChildProcess;
  /** Every line it printed so far (stdout and stderr). */
  output: string[];
  /** Resolves with the first JSON log line whose msg matches, or rejects when the process exits first. */
  waitForLog(msg: RegExp, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** SIGTERM, then the exit code (SIGKILL after 5 s). */
  stop(): Promise<number | null>;
}

/**
 * Start one app's main.ts as its own process, as an operator would (`node --import tsx`), with
 * `env` added to this process's environment. For tests of the process wiring.
 */
export function startMain(mainPath: string, env: Record<string, string | undefined>, args: string[] = []): MainProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', mainPath, ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', TSX_TSCONFIG_PATH: 'tsconfig.base.json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const listeners = new Set<(line: string) => void>();
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      output.push(line);
      for (const listener of listeners) listener(line);
    });
  }
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    output,
    exited,
    waitForLog: (msg, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const check = (line: string) => {
          if (!line.startsWith('{')) return;
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (typeof entry['msg'] === 'string' && msg.test(entry['msg'])) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(entry);
          }
        };
        const timer = setTimeout(() => reject(new Error(`no log matching ${msg} within ${timeoutMs} ms:\n${output.join('\n')}`)), timeoutMs);
        for (const line of output) check(line);
        listeners.add(check);
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`exited with ${code} before logging ${msg}:\n${output.join('\n')}`));
        });
      }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
