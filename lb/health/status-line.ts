// What an http probe decides on: the status line of the answer's head, read as it arrives. Pure.

/** The most bytes read before the final status line must have come (interim 1xx heads included). */
export const HEAD_LIMIT = 8192;

const STATUS_LINE = /^HTTP\/\d\.\d (\d{3})(?: |$)/;

/**
 * The final status of an answer whose first bytes are `head`: a number; a string saying why it is not HTTP; or
 * undefined while more bytes are needed. Interim answers (1xx but 101) are passed over, as HTTP clients do.
 */
export function readStatusLine(head: string): number | string | undefined {
  let at = 0;
  for (;;) {
    const eol = head.indexOf('\n', at);
    if (eol < 0) {
      const rest = head.slice(at, at + 5);
      if (!'HTTP/'.startsWith(rest)) return `not an HTTP answer: ${JSON.stringify(clip(head.slice(at)))}`;
      return head.length > HEAD_LIMIT ? `no HTTP status line within ${HEAD_LIMIT} bytes` : undefined;
    }
    const line = head.slice(at, eol).replace(/\r$/, '');
    const m = STATUS_LINE.exec(line);
    if (!m) return `not an HTTP answer: ${JSON.stringify(clip(line))}`;
    const status = Number(m[1]);
    if (status >= 200 || status === 101) return status;
    // An interim answer: its head ends at the first empty line; the final status line follows.
    const end = /\r?\n\r?\n/g;
    end.lastIndex = eol - 1;
    const found = end.exec(head);
    if (!found) return head.length > HEAD_LIMIT ? `no HTTP status line within ${HEAD_LIMIT} bytes` : undefined;
    at = found.index + found[0].length;
  }
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}...` : s;
}
