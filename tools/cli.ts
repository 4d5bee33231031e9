// Shared by the benchmark tools: plain output lines, command-line options, and the CPU time of a
// process.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Print one line to stdout. */
export const write = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** `--name <positive integer>` from the command line, or `fallback`. */
export function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at === -1) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} needs a positive integer`);
  return value;
}

/** `--name value`, or `--name=value` (for a value that starts with dashes itself). */
export function textOption(name: string): string | undefined {
  const joined = process.argv.find((arg) => arg.startsWith(`--${name}=`));
  if (joined !== undefined) return joined.slice(name.length + 3);
  const at = process.argv.indexOf(`--${name}`);
  if (at === -1) return undefined;
  const value = process.argv[at + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value`);
  return value;
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** utime and stime of a process (all its threads), in ms, from /proc/<pid>/stat (Linux). */
export function cpuTimes(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm)": state is field 3, utime field 14, stime field 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: (Number(fields[11]) * 1000) / CLOCK_TICKS, system: (Number(fields[12]) * 1000) / CLOCK_TICKS };
}

/** utime + stime of a process, in ms. */
export const cpuMs = (pid: number): number => {
  const { user, system } = cpuTimes(pid);
  return user + system;
};
