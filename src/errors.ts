/**
 * One error type for the whole server. Each code is stable (tests and clients match on it) and has
 * one HTTP status; how it is written depends only on the envelope of the route that failed, and
 * that mapping lives in `http/envelope.ts`.
 */
export const ERROR_STATUS = {
  invalid_request: 400,
  invalid_parameter: 400,
  missing_parameter: 400,
  repeated_parameter: 400,
  invalid_window: 400,
  invalid_json: 400,
  invalid_tiers: 400,
  invalid_license_key: 400,
  invalid_validity: 400,
  invalid_upload: 400,
  renewal_mismatch: 400,
  unauthorized: 401,
  invalid_signature: 401,
  unknown_api_key: 401,
  forbidden: 403,
  project_forbidden: 403,
  project_inactive: 403,
  license_forbidden: 403,
  not_preauthorized: 403,
  quota_exhausted: 403,
  renewal_exhausted: 403,
  not_found: 404,
  unknown_customer: 404,
  unknown_project: 404,
  unknown_plan: 404,
  unknown_sku: 404,
  unknown_pid: 404,
  unknown_license: 404,
  unknown_renewal: 404,
  no_license: 404,
  conflict: 409,
  project_of_another_customer: 409,
  customer_deactivated: 409,
  project_deactivated: 409,
  plan_exists: 409,
  month_already_billed: 409,
  sku_conflict: 409,
  expiry_limit: 409,
  pid_conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  whitelist_full: 409,
  rate_limited: 429,
  internal: 500,
  database_unavailable: 503,
  /** The server is shedding load (a bounded queue is full); nothing was done, retry after Retry-After. */
  overloaded: 503,
  /** The request passed its deadline; work already started may still complete, so a retry must be safe. */
  deadline_exceeded: 503,
  // Certificates and license files (docs/certificates.md).
  invalid_package: 400,
  package_signature_invalid: 400,
  unknown_signing_key: 400,
  unknown_certificate: 404,
  unknown_agent: 404,
  agent_exists: 409,
  agent_deleted: 409,
  certificate_not_bindable: 409,
  certificate_bound_elsewhere: 409,
  signing_key_missing: 503,
  // The vendor console's reads (src/browse/).
  unknown_event: 404,
  // Licenses at run time (src/runtime): a refused join carries its reason in `details`.
  join_refused: 403,
  unknown_session: 404,
  session_ended: 410,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'AppError';
    this.status = ERROR_STATUS[code];
  }
}

/** Connection-level failures and timeouts: the database could not answer, so the caller should retry. */
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN']);

export function isDatabaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = errnoCode(err);
  if (code && UNAVAILABLE_ERRNO.has(code)) return true;
  // SQLSTATE class 08 (connection exception), 57P0x (shutdown), 53300 (too many connections),
  // 57014 (query cancelled by statement_timeout).
  if (code && /^(08|57P0)/.test(code)) return true;
  if (code === '53300' || code === '57014') return true;
  if ('errors' in err && Array.isArray(err.errors) && err.errors.some(isDatabaseUnavailable)) return true; // AggregateError from dual-stack connect
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connect ECONNREFUSED/i.test(
    err.message,
  );
}

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (isDatabaseUnavailable(err)) return new AppError('database_unavailable', 'The database did not answer in time; retry');
  return new AppError('internal', 'Internal error');
}

/** The `code` of a Node system error (`EEXIST`, `ENOENT`…), or undefined for any other throw. */
export function errnoCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}
