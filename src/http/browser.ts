// The browser cookie that binds a sign-in to the browser that started it (and gives the
// patient pages an anonymous user reference). HttpOnly; SameSite=Lax so that it comes back on
// the EHR's top-level redirect to /callback.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomToken } from '../common/random.ts';

export const BROWSER_COOKIE = 'fb_browser';

export function browserSecret(request: FastifyRequest): string | undefined {
  const value = request.cookies[BROWSER_COOKIE];
  return value && /^[A-Za-z0-9_-]{43}$/.test(value) ? value : undefined;
}

export function ensureBrowserSecret(
  request: FastifyRequest,
  reply: FastifyReply,
  secure: boolean,
): string {
  const existing = browserSecret(request);
  if (existing) return existing;
  const secret = randomToken(32);
  reply.setCookie(BROWSER_COOKIE, secret, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure,
    maxAge: 30 * 24 * 3600,
  });
  return secret;
}
