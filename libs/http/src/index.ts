export { BrokerError, badRequest, notFound } from './errors.ts';
export { escapeHtml, renderPage } from './html.ts';
export { requestId, publicOrigin, securityHeaders, healthRoutes, errorHandler, renderErrorPage, logRejection, RETRY_AFTER_SECONDS } from './middleware.ts';
