// YAML text -> plain data, or problems placed by line and column: syntax errors, duplicate keys, more than one
// document, aliases without an anchor, alias bombs. Numbers no JavaScript number holds are kept as written.
import { LineCounter, parseDocument, visit } from 'yaml';
import type { Problem } from './problem.js';
import { NumberLiteral } from './values.js';

export function parseYaml(text: string): { data?: unknown; problems: Problem[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, lineCounter: lines });
  const where = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `line ${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((e) => ({
        path: where(e.pos[0]),
        message: e.code === 'MULTIPLE_DOCS' ? 'the file holds more than one YAML document ("---"); keep one'
          : e.message.replace(/ at line \d+, column \d+:[\s\S]*$/, ''),
      })),
    };
  }
  const problems: Problem[] = [];
  visit(doc, {
    Alias(_, alias) {
      if (!alias.resolve(doc)) {
        const name = alias.source;
        problems.push({ path: where(alias.range?.[0] ?? 0), message: `*${name} names no anchor (&${name}) above it` });
      }
    },
    Scalar(_, scalar) {
      // `1e400` would become Infinity and `12345678901234567890` a rounded number: messages quote what was written.
      const v = scalar.value;
      const inexact = typeof v === 'number' && (!Number.isFinite(v) || (Number.isInteger(v) && !Number.isSafeInteger(v)));
      if (inexact && scalar.source !== undefined) {
        scalar.value = new NumberLiteral(scalar.source);
      }
    },
  });
  if (problems.length > 0) return { problems };
  try {
    return { data: doc.toJS(), problems: [] };
  } catch (err) {
    // Aliases nested too deep (a "billion laughs" file) and the like.
    return { problems: [{ path: '', message: `the YAML cannot be read: ${(err as Error).message}` }] };
  }
}
