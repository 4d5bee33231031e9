export { createTokenServiceRouter, isTokenServicePath } from './token-service.ts';
