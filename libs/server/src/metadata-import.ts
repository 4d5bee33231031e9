import { ConfigError, type ResolvedConfig } from '@broker/config';
import { fetchIdpMetadata, type FetchedIdpMetadata, type FetchIdpMetadataOptions } from '@broker/saml';
import type { Logger } from '@broker/telemetry';

export interface ImportMetadataOptions {
  logger?: Logger;
  /** The fetcher (tests replace it); default fetchIdpMetadata. */
  fetch?: (url: string, options: FetchIdpMetadataOptions) => Promise<FetchedIdpMetadata>;
  /** Passed on to the fetcher; allowPrivateNetwork comes from saml.allowPrivateMetadataUrls. */
  fetchOptions?: Omit<FetchIdpMetadataOptions, 'allowPrivateNetwork'>;
}

/**
 * Fetch the metadata of every connection configured with `idp.metadataUrl`, once, at start,
 * and return the configuration with that XML in the connection's `idp.metadataXml`. A failure
 * stops the start with a ConfigError naming the connection, the field and the rule that refused.
 */
export async function importIdpMetadata(config: ResolvedConfig, options: ImportMetadataOptions = {}): Promise<ResolvedConfig> {
  const fetch = options.fetch ?? fetchIdpMetadata;
  const fetchOptions: FetchIdpMetadataOptions = { ...options.fetchOptions, allowPrivateNetwork: config.saml.allowPrivateMetadataUrls };
  const tenants = await Promise.all(
    config.tenants.map(async (tenant, t) => ({
      ...tenant,
      connections: await Promise.all(
        tenant.connections.map(async (connection, c) => {
          const url = connection.idp.metadataUrl;
          if (url === undefined) return connection;
          let fetched: FetchedIdpMetadata;
          try {
            fetched = await fetch(url, fetchOptions);
          } catch (error) {
            const message = error instanceof Error ? error.message : String(error);
            throw new ConfigError(`tenants.${t}.connections.${c}.idp.metadataUrl (connection ${connection.id}): cannot import the IdP metadata: ${message}`);
          }
          options.logger?.info(
            { connectionId: connection.id, idpEntityId: fetched.metadata.entityId, certificates: fetched.metadata.certificates.length },
            'IdP metadata imported from idp.metadataUrl',
          );
          return { ...connection, idp: { ...connection.idp, metadataXml: fetched.xml } };
        }),
      ),
    })),
  );
  return { ...config, tenants };
}
