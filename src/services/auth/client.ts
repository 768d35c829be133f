/** Where a request comes from: for session records and audit lines. */
export interface ClientInfo {
  ip?: string | undefined;
  userAgent?: string | undefined;
  /** The request's trace id, so audit lines join the rest of the request's log. */
  traceId?: string | undefined;
}
