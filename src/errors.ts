/** A problem in a request, located by a JSON pointer (body) or a parameter / header name. */
export interface ProblemDetail {
  pointer?: string;
  parameter?: string;
  header?: string;
  message: string;
  /** For type errors: the type the position needs, and what it got. */
  expected?: string;
  found?: string;
}

/**
 * Errors the service raises on purpose. The API turns them into RFC 9457 problem responses;
 * the CLI prints them. Anything else is an internal error and is never shown to a client.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly errors?: ProblemDetail[],
    readonly type: string = `https://audiences.dev/problems/${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`,
  ) {
    super(detail);
  }
}

export const invalidRequest = (detail: string, errors: ProblemDetail[]) => new AppError(400, 'Invalid request', detail, errors);
export const notFound = (detail: string) => new AppError(404, 'Not found', detail);
export const conflict = (detail: string, errors?: ProblemDetail[]) => new AppError(409, 'Conflict', detail, errors);
export const preconditionFailed = (detail: string) => new AppError(412, 'Precondition failed', detail);
export const unprocessable = (detail: string, errors: ProblemDetail[]) => new AppError(422, 'Unprocessable entity', detail, errors);
