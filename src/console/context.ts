import type { Context } from 'hono';
import type { AppEnv } from '../http/context.ts';
import type { ConsoleApi } from './api.ts';
import type { ConsoleToken } from './session.ts';

export type ConsoleEnv = { Variables: AppEnv['Variables'] & { consoleSession: ConsoleToken; csrf: string } };
export type ConsoleContext = Context<ConsoleEnv>;

/** What every page gets: the in-process API and the app's clock. */
export interface PageDeps {
  api: ConsoleApi;
  clock: () => Date;
}

/** A rendered page as the answer, with its doctype. */
export async function html(c: ConsoleContext, node: { toString(): string | Promise<string> }, status: 200 | 401 = 200) {
  return c.html(`<!doctype html>${await node.toString()}`, status);
}
