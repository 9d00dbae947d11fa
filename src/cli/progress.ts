// The `sync` command's progress display. On a terminal: one live bar per resource type, redrawn
// in place with ANSI cursor moves (a moving block while a type runs: the server never says how
// many pages are left). Elsewhere (a pipe, CI logs): one line per type as it finishes.
import type { SyncProgress } from '../sync/index.ts';

type Types = SyncProgress['types'];
type TypeLine = Types[string];

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressView {
  update(progress: SyncProgress): void;
  /** A line above the bars (a retry, a wait for another process). */
  note(text: string): void;
  /** Draws the last state and leaves the cursor below it. */
  finish(): void;
}

export interface ProgressViewOptions {
  out: ProgressOutput;
  /** Title, e.g. "Syncing con_… (full)". */
  title: string;
  now?: () => number;
  /** Colors and symbols unless NO_COLOR is set. */
  color?: boolean;
  /** Redraws of the moving block per second on a terminal; 0 = only on updates (tests). */
  fps?: number;
}

const BAR = 24;
const ESC = '\x1b[';

const fmt = (n: number) => n.toLocaleString('en-US');
const plural = (n: number, word: string) => `${fmt(n)} ${word}${n === 1 ? '' : 's'}`;

/** How a type ended, in the words of its outcome when the engine gave one. */
const ENDED: Record<NonNullable<TypeLine['outcome']>, string> = {
  complete: 'done,',
  unsupported: 'not supported by this server after',
  timed_out: 'timed out after',
  failed: 'failed after',
};

export function typeSummary(type: string, line: TypeLine): string {
  if (line.outcome === 'unsupported' && line.pages === 0) {
    return `${type}: not supported by this server`;
  }
  if (line.status === 'skipped') return `${type}: skipped`;
  const counts = `${plural(line.resources, 'resource')} in ${plural(line.pages, 'page')}`;
  const ended = line.outcome
    ? ENDED[line.outcome]
    : line.status === 'failed'
      ? 'failed after'
      : 'done,';
  return `${type}: ${ended} ${counts}`;
}

function bar(line: TypeLine, tick: number): string {
  switch (line.status) {
    case 'done':
      return '█'.repeat(BAR);
    case 'running': {
      const block = 6;
      const span = BAR - block;
      const phase = tick % (2 * span);
      const at = phase <= span ? phase : 2 * span - phase;
      return `${'░'.repeat(at)}${'█'.repeat(block)}${'░'.repeat(span - at)}`;
    }
    default:
      return '░'.repeat(BAR);
  }
}

export function createProgressView({
  out,
  title,
  now = Date.now,
  color = !process.env.NO_COLOR,
  fps = 10,
}: ProgressViewOptions): ProgressView {
  const tty = out.isTTY === true;
  const paint = (code: string, text: string) => (color ? `${ESC}${code}m${text}${ESC}0m` : text);
  const mark: Record<TypeLine['status'], string> = {
    pending: paint('2', '·'),
    running: paint('36', '›'),
    done: paint('32', '✓'),
    failed: paint('31', '✗'),
    skipped: paint('2', '-'),
  };
  const startedAt = now();
  let types: Types = {};
  let drawn = 0;
  let tick = 0;
  let finished = false;
  const printed = new Set<string>();
  let timer: ReturnType<typeof setInterval> | undefined;

  const clip = (line: string) => {
    const columns = out.columns ?? 100;
    // Escape codes take no columns: only clip plain text, or lines that are clearly too long.
    return !color && line.length > columns ? line.slice(0, columns - 1) : line;
  };

  function render(): string[] {
    const entries = Object.entries(types);
    const done = entries.filter(([, t]) => t.status !== 'pending' && t.status !== 'running');
    const total = entries.reduce((n, [, t]) => n + t.resources, 0);
    const seconds = ((now() - startedAt) / 1000).toFixed(1);
    const width = Math.max(0, ...entries.map(([name]) => name.length));
    return [
      `${title}  ${done.length}/${entries.length} types  ${plural(total, 'resource')}  ${seconds}s`,
      ...entries.map(([name, t]) => {
        const counts =
          t.status === 'pending' || t.status === 'skipped'
            ? paint('2', t.status)
            : `${plural(t.resources, 'resource')}  ${plural(t.pages, 'page')}`;
        const drawnBar = t.status === 'failed' ? paint('31', bar(t, tick)) : bar(t, tick);
        return clip(`  ${mark[t.status]} ${name.padEnd(width)}  ${drawnBar}  ${counts}`);
      }),
    ];
  }

  function redraw(): void {
    const lines = render();
    // Up to the first line we drew, then rewrite every line (clearing what was there).
    let text = drawn > 0 ? `${ESC}${drawn}F` : '';
    for (const line of lines) text += `${ESC}2K${line}\n`;
    // Fewer lines than last time: clear the leftovers.
    for (let i = lines.length; i < drawn; i++) text += `${ESC}2K\n`;
    const extra = Math.max(0, drawn - lines.length);
    if (extra > 0) text += `${ESC}${extra}F`;
    out.write(text);
    drawn = lines.length;
  }

  function printFinished(): void {
    for (const [name, t] of Object.entries(types)) {
      if (printed.has(name) || t.status === 'pending' || t.status === 'running') continue;
      printed.add(name);
      out.write(`${typeSummary(name, t)}\n`);
    }
  }

  if (tty) {
    out.write(`${ESC}?25l`); // hide the cursor while redrawing
    if (fps > 0) {
      timer = setInterval(() => {
        tick++;
        if (drawn > 0) redraw();
      }, 1000 / fps);
      timer.unref();
    }
  } else {
    out.write(`${title}\n`);
  }

  return {
    update(progress) {
      if (finished) return;
      types = progress.types;
      if (tty) {
        if (fps === 0) tick++;
        redraw();
      } else printFinished();
    },
    note(text) {
      if (finished) return;
      if (!tty) {
        out.write(`${text}\n`);
        return;
      }
      // Above the bars: clear them, write the note, draw them again below it.
      if (drawn > 0) out.write(`${ESC}${drawn}F${ESC}0J`);
      out.write(`${text}\n`);
      drawn = 0;
      if (Object.keys(types).length > 0) redraw();
    },
    finish() {
      if (finished) return;
      finished = true;
      if (timer) clearInterval(timer);
      if (tty) {
        if (Object.keys(types).length > 0) redraw();
        out.write(`${ESC}?25h`);
      } else printFinished();
    },
  };
}
