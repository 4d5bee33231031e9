export { createDirectory, emailDomain } from './directory.ts';
export type { Directory } from './directory.ts';
export { createUserRepository } from './users.ts';
export type { User, UserRepository, AssertedIdentity } from './users.ts';
export { createLoginHandoff } from './login-handoff.ts';
export type { LoginHandoff, LoginRequest, LoginResult, RelayRecord } from './login-handoff.ts';
export { redirectUriProblem, redirectUriProblems, corsOriginProblem } from './client-rules.ts';
export type { ClientKind, RedirectRuleOptions } from './client-rules.ts';
