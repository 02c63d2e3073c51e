// The control plane's errors with stable codes (README "Errors" lists them); HTTP status for the control socket.
export type ErrorCode =
  | 'XLB_CONFIG_INVALID'
  | 'XLB_CONFIG_UNREADABLE'
  | 'XLB_PLAN'
  | 'XLB_NOT_FOUND'
  | 'XLB_CONFLICT'
  | 'XLB_BAD_REQUEST'
  | 'XLB_SETUP'
  | 'XLB_CANCELLED'
  | 'XLB_FOREIGN_XDP';

const STATUS: Record<ErrorCode, number> = {
  XLB_CONFIG_INVALID: 400,
  XLB_CONFIG_UNREADABLE: 400,
  XLB_PLAN: 400,
  XLB_NOT_FOUND: 404,
  XLB_CONFLICT: 409,
  XLB_BAD_REQUEST: 400,
  XLB_SETUP: 500,
  XLB_CANCELLED: 409,
  XLB_FOREIGN_XDP: 409,
};

export class XlbError extends Error {
  readonly status: number;

  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.name = 'XlbError';
    this.status = STATUS[code];
  }
}
