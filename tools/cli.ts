// Shared by the benchmark tools: plain output lines and numeric command-line options.

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
