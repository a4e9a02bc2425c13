/**
 * The dashboard's routes, mounted at /dashboard: the page, its script and its style sheet. They hold
 * no data, so they are open, as /health is; the page asks for a bearer token and sends it on every
 * call to the API's routes, which check its scopes (reading takes `read`, the page's actions `admin`).
 * No cookies: a request made from another site carries no credential.
 *
 * A strict Content-Security-Policy: scripts and styles only from these files, requests only to this
 * origin, no framing. The page works offline: everything it loads is bundled at build time.
 */
import { Hono } from "hono";
import { dashboardAssets } from "./dashboard-assets.ts";

const SECURITY_HEADERS = {
  "Content-Security-Policy": [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; "),
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-cache",
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgeq</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/dashboard.css">
<script src="/dashboard/dashboard.js" defer></script>
</head>
<body><noscript>The edgeq dashboard needs JavaScript.</noscript></body>
</html>
`;

export function dashboardRoutes(): Hono {
  const routes = new Hono();
  routes.get("/", (c) => c.html(PAGE, 200, SECURITY_HEADERS));
  routes.get("/dashboard.js", async (c) =>
    c.body((await dashboardAssets()).js, 200, { ...SECURITY_HEADERS, "Content-Type": "text/javascript; charset=utf-8" }));
  routes.get("/dashboard.css", async (c) =>
    c.body((await dashboardAssets()).css, 200, { ...SECURITY_HEADERS, "Content-Type": "text/css; charset=utf-8" }));
  return routes;
}
