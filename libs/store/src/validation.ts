/**
 * Argument checks shared by every Store implementation, so both reject bad input the same way
 * (and before anything is written).
 */

/** `ttlSeconds` must be a positive integer: Redis EX rejects 0, negatives and fractions. */
export function assertTtlSeconds(ttlSeconds: number): void {
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new TypeError(`ttlSeconds must be a positive integer, got ${String(ttlSeconds)}`);
  }
}

/** A list cap or range count must be a positive integer (LRANGE 0 -1 would mean "everything"). */
export function assertCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive integer, got ${String(value)}`);
  }
}

/** The TTL in `options`, validated; undefined for a durable write. */
export function ttlOf(options: { ttlSeconds?: number } | undefined): number | undefined {
  const ttlSeconds = options?.ttlSeconds;
  if (ttlSeconds !== undefined) assertTtlSeconds(ttlSeconds);
  return ttlSeconds;
}

/** `at` is written into JSON as a number, so it must be finite (JSON has no NaN/Infinity). */
export function assertConsumedAt(at: number): void {
  if (!Number.isFinite(at)) {
    throw new TypeError(`consumeJson: at must be a finite number, got ${String(at)}`);
  }
}

/** Same text as Redis' error, so callers can treat both implementations alike. */
export const WRONGTYPE_MESSAGE = 'WRONGTYPE Operation against a key holding the wrong kind of value';
