/**
 * The dashboard's script and style sheet, bundled at build time into dist/dashboard/assets.js
 * (scripts/dashboard.ts). Imported on first use, so that only a process serving the dashboard
 * loads them, and by a computed URL, so that neither tsc nor esbuild follows it: the module is
 * found two folders up from this file, which holds both for the sources (src/api/) and for the
 * Node build's chunks (dist/node/).
 */
import { UnavailableError } from "../wire/mod.ts";

export interface DashboardAssets {
  js: string;
  css: string;
}

const ASSETS_URL = new URL("../../dist/dashboard/assets.js", import.meta.url).href;

let loaded: Promise<DashboardAssets> | undefined;

export function dashboardAssets(): Promise<DashboardAssets> {
  loaded ??= (import(ASSETS_URL) as Promise<DashboardAssets>).catch((err) => {
    loaded = undefined; // a build made later is picked up
    throw new UnavailableError(`the dashboard is not built: run npm run build (${(err as Error).message})`);
  });
  return loaded;
}
