import { keys, type Store } from '@broker/store';

/**
 * Recent rejected SAML responses per connection, for the administrator who sets a connection up
 * ("why does sign-in fail?"). Each entry keeps the stable code and the support fields that say
 * what was expected and what arrived: entity IDs, URLs, certificate fingerprints, clock
 * difference, algorithm, status. Nothing that identifies a person is kept: no NameID, email,
 * names or attribute values, no XML, and no free-text reason (node-saml's messages may quote
 * the response). The list is capped and expires, so it holds the recent past only.
 */

/** The detail fields an entry may keep; everything else in a rejection's detail is dropped. */
export const SUPPORT_FIELDS = [
  'expectedAudience',
  'receivedAudience',
  'expectedIssuer',
  'receivedIssuer',
  'expectedDestination',
  'receivedDestination',
  'expectedRecipient',
  'receivedRecipient',
  'receivedFingerprints',
  'configuredFingerprints',
  'clockDifferenceSeconds',
  'algorithm',
  'status',
  'expectedAuthnContext',
  'receivedAuthnContext',
  'assertionId',
  'methods',
  'maxAgeSeconds',
  'authnInstant',
  'requestedAt',
  'nameIdFormat',
  'maxLength',
] as const;
export type SupportField = (typeof SUPPORT_FIELDS)[number];
export type DiagnosticDetail = Partial<Record<SupportField, string | number | string[]>>;

export interface DiagnosticEntry {
  /** When it was recorded (ISO 8601). */
  at: string;
  /** The stable `saml.*` code. */
  code: string;
  detail: DiagnosticDetail;
}

export interface SamlDiagnostics {
  /** Keep one event of a connection (newest first, capped). Rejects when the store fails. */
  record(connectionId: string, event: { code: string; detail?: Record<string, unknown> | undefined }): Promise<void>;
  /** The connection's recent events, newest first. */
  list(connectionId: string): Promise<DiagnosticEntry[]>;
}

export interface SamlDiagnosticsOptions {
  store: Store;
  /** Entries kept per connection (default 50). */
  cap?: number;
  /** How long a connection's list lives after its last entry, in seconds (default 7 days). */
  ttlSeconds?: number;
  /** Clock in epoch ms (tests move it). */
  now?: () => number;
}

const DEFAULT_CAP = 50;
const DEFAULT_TTL_SECONDS = 7 * 24 * 3600;
/** Received values are attacker-controlled: bounded in length and number. */
const MAX_STRING = 512;
const MAX_ITEMS = 10;
const ALLOWED = new Set<string>(SUPPORT_FIELDS);

export function createSamlDiagnostics(options: SamlDiagnosticsOptions): SamlDiagnostics {
  const { store } = options;
  const cap = options.cap ?? DEFAULT_CAP;
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  const now = options.now ?? Date.now;
  if (!Number.isSafeInteger(cap) || cap <= 0) throw new TypeError(`cap must be a positive integer, got ${String(cap)}`);
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) throw new TypeError(`ttlSeconds must be a positive integer, got ${String(ttlSeconds)}`);

  return {
    async record(connectionId, event) {
      const entry: DiagnosticEntry = {
        at: new Date(now()).toISOString(),
        code: boundedString(event.code),
        detail: supportDetail(event.detail ?? {}),
      };
      await store.pushCapped(keys.samlDiagnostics(connectionId), JSON.stringify(entry), cap, ttlSeconds);
    },

    async list(connectionId) {
      const raw = await store.listRange(keys.samlDiagnostics(connectionId), cap);
      return raw.flatMap((text) => {
        const entry = parseEntry(text);
        return entry ? [entry] : [];
      });
    },
  };
}

/** Only the allow-listed support fields, each a bounded string, finite number or short string list. */
export function supportDetail(detail: Record<string, unknown>): DiagnosticDetail {
  const out: DiagnosticDetail = {};
  for (const [name, value] of Object.entries(detail)) {
    if (!ALLOWED.has(name)) continue;
    const clean = supportValue(value);
    if (clean !== undefined) out[name as SupportField] = clean;
  }
  return out;
}

function supportValue(value: unknown): string | number | string[] | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string') return boundedString(value);
  if (Array.isArray(value)) {
    // `methods` may hold undefined for a SubjectConfirmation without a Method.
    return value.slice(0, MAX_ITEMS).map((item) => (typeof item === 'string' ? boundedString(item) : '(none)'));
  }
  return undefined;
}

/** Printable text only (control characters would garble logs and terminals), bounded. */
function boundedString(value: string): string {
  // eslint-disable-next-line no-control-regex -- stripping control characters is the point
  const printable = value.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return printable.length > MAX_STRING ? `${printable.slice(0, MAX_STRING)}…` : printable;
}

function parseEntry(text: string): DiagnosticEntry | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null) return undefined;
    const { at, code, detail } = value as Record<string, unknown>;
    if (typeof at !== 'string' || typeof code !== 'string') return undefined;
    // Filtered again on the way out, so an entry written by an older version cannot leak more.
    return { at, code, detail: typeof detail === 'object' && detail !== null ? supportDetail(detail as Record<string, unknown>) : {} };
  } catch {
    return undefined;
  }
}
