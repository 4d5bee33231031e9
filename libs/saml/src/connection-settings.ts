import type { ResolvedConnection } from '@broker/config';
import { parseIdpMetadata } from './idp-metadata.ts';

/** The IdP side of a connection, complete: configuration first, metadata for the rest. */
export interface IdpSettings {
  entityId: string;
  ssoUrl: string;
  /** The IdP's logout URL, when known (configuration or metadata). */
  sloUrl?: string | undefined;
  certificates: string[];
}

/** The SP's URLs for one connection, under the broker's public origin. */
export function spUrls(issuer: string, connection: string | { id: string; spEntityId?: string | undefined }): { entityId: string; acsUrl: string; loginUrl: string; metadataUrl: string; sloUrl: string } {
  const id = typeof connection === 'string' ? connection : connection.id;
  const base = `${issuer}/saml/${encodeURIComponent(id)}`;
  // The SAML request issuer is derived per connection unless the connection overrides it.
  const entityId = (typeof connection === 'string' ? undefined : connection.spEntityId) ?? `${base}/metadata`;
  return { entityId, acsUrl: `${base}/acs`, loginUrl: `${base}/login`, metadataUrl: `${base}/metadata`, sloUrl: `${base}/slo` };
}

/**
 * Resolve a connection's IdP settings; throws naming the connection when something is missing.
 * Values given in the configuration win over the metadata's; certificates from both are
 * trusted, so an IdP can rotate by publishing the next certificate ahead of time.
 */
export function resolveIdpSettings(connection: ResolvedConnection): IdpSettings {
  if (connection.idp.metadataUrl !== undefined && connection.idp.metadataXml === undefined) {
    throw new Error(`connection ${connection.id}: the IdP metadata from idp.metadataUrl has not been fetched (the server fetches it at start)`);
  }
  const metadata = connection.idp.metadataXml === undefined ? undefined : parseIdpMetadata(connection.idp.metadataXml);
  const entityId = connection.idp.entityId ?? metadata?.entityId;
  const ssoUrl = connection.idp.ssoUrl ?? metadata?.ssoRedirectUrl ?? metadata?.ssoPostUrl;
  const certificates = [...new Set([...connection.idp.certificates, ...(metadata?.certificates ?? [])])];
  if (!entityId) throw new Error(`connection ${connection.id}: no IdP entity ID (set idp.entityId, or give metadata: idp.metadataFile, idp.metadataUrl or idp.metadataXml)`);
  if (!ssoUrl) throw new Error(`connection ${connection.id}: no IdP SSO URL (set idp.ssoUrl or give metadata with a SingleSignOnService)`);
  if (certificates.length === 0) throw new Error(`connection ${connection.id}: no IdP signing certificate`);
  return { entityId, ssoUrl, sloUrl: connection.idp.sloUrl ?? metadata?.sloUrl, certificates };
}
