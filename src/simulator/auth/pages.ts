// The patient-facing HTML of the authorize flow, modelled on healow's: the login page, the
// "Personal Information Sharing" consent page and the error page. Plain forms, no JavaScript,
// so plain HTTP and Chromium drive them alike; every value is escaped.

export const LOGIN_TITLE = 'healow - Health and Online Wellness';

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;background:#f4f7fa;color:#1d2b36;margin:0}
main{max-width:28rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;color:#f26522}label{display:block;margin:.6rem 0}
input[type=text],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box}
button{padding:.5rem 1.2rem;margin:.8rem .5rem 0 0}.error{color:#b00020}
ul{list-style:none;padding:0}small{color:#56666f}
</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

export interface LoginPageInput {
  requestId: string;
  practiceName: string;
  appName: string;
  usernames: string[];
  username?: string;
  error?: string;
}

export function renderLoginPage(input: LoginPageInput): string {
  const error = input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : '';
  const patients = input.usernames.map((u) => `<li><code>${escapeHtml(u)}</code></li>`).join('');
  return page(
    LOGIN_TITLE,
    `<h1>healow</h1>
<p>Sign in to share your health records from <strong>${escapeHtml(input.practiceName)}</strong> with <strong>${escapeHtml(input.appName)}</strong>.</p>
${error}<form method="post" action="/oauth/oauth2/login">
<input type="hidden" name="request_id" value="${escapeHtml(input.requestId)}">
<label>Username <input type="text" name="username" autocomplete="username" value="${escapeHtml(input.username ?? '')}" required></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<button type="submit" name="action" value="login">Log In</button>
</form>
<p><small>Test patients:</small></p>
<ul>${patients}</ul>`,
  );
}

export interface ConsentPageInput {
  requestId: string;
  appName: string;
  appDescription: string;
  practiceName: string;
  patientName: string;
  scopes: string[];
  error?: string;
}

export function renderConsentPage(input: ConsentPageInput): string {
  const error = input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : '';
  const scopes = input.scopes
    .map(
      (s) =>
        `<li><label><input type="checkbox" name="scope" value="${escapeHtml(s)}" checked> ${escapeHtml(s)}</label></li>`,
    )
    .join('\n');
  return page(
    'Personal Information Sharing',
    `<h1>Personal Information Sharing</h1>
<p><strong>${escapeHtml(input.appName)}</strong> asks to access the health records of <strong>${escapeHtml(input.patientName)}</strong> at ${escapeHtml(input.practiceName)}.</p>
<p>${escapeHtml(input.appDescription)}</p>
${error}<form method="post" action="/oauth/oauth2/consent">
<input type="hidden" name="request_id" value="${escapeHtml(input.requestId)}">
<ul>
${scopes}
</ul>
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>`,
  );
}

export function renderErrorPage(title: string, message: string): string {
  return page(
    LOGIN_TITLE,
    `<h1>${escapeHtml(title)}</h1>\n<p class="error">${escapeHtml(message)}</p>`,
  );
}
