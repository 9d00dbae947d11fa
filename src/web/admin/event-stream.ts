// Server-sent events for the dashboard's live views: a value read every `pollMs`, one `progress`
// event each time it changes, until the browser goes or the value says it is finished (`end`).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Timers } from '../../common/timers.ts';
import { PAGE_CSP } from '../layout.ts';

export interface PollOptions<T> {
  timers: Timers;
  pollMs: number;
  /** The value to send; read again after each wait. */
  read: () => Promise<T>;
  /** When true for a value just sent, the stream sends `end` and closes. */
  finished?: (value: T) => boolean;
}

export async function streamProgress<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  { timers, pollMs, read, finished = () => false }: PollOptions<T>,
): Promise<void> {
  reply.hijack();
  const out = reply.raw;
  out.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': PAGE_CSP,
    'x-accel-buffering': 'no',
  });
  let open = true;
  request.raw.on('close', () => {
    open = false;
  });
  let last = '';
  while (open) {
    const value = await read();
    const data = JSON.stringify(value);
    if (data !== last) {
      out.write(`event: progress\ndata: ${data}\n\n`);
      last = data;
    }
    if (finished(value)) {
      out.write('event: end\ndata: {}\n\n');
      break;
    }
    await new Promise<void>((resolve) => timers.setTimeout(resolve, pollMs));
  }
  out.end();
}
