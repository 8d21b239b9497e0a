import type { Child } from 'hono/jsx';

/** The console's pages, in the navigation's order. */
export const NAV = [
  { href: '/console', label: 'Overview' },
  { href: '/console/usage', label: 'Usage' },
  { href: '/console/statements', label: 'Statements and bills' },
  { href: '/console/reconciliation', label: 'Reconciliation' },
  { href: '/console/customers', label: 'Customers and projects' },
  { href: '/console/licenses', label: 'Licenses' },
] as const;

export interface PageProps {
  title: string;
  /** The nav entry to mark as current. */
  current?: string;
  /** Signed in: the sign-out form's CSRF token. */
  csrf?: string;
  /** Load the chart script (pages with a chart table). */
  charts?: boolean;
  children?: Child;
}

export function Page(props: PageProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · Agora vendor console`}</title>
        <link rel="stylesheet" href="/console/assets/console.css" />
        {props.charts ? <link rel="stylesheet" href="/console/assets/uPlot.min.css" /> : null}
      </head>
      <body>
        <header>
          <span class="brand">Agora vendor console</span>
          {props.csrf === undefined ? null : (
            <>
              <nav>
                {NAV.map((n) => (
                  <a href={n.href} aria-current={props.current === n.href ? 'page' : undefined}>
                    {n.label}
                  </a>
                ))}
              </nav>
              <form method="post" action="/console/sign-out" class="sign-out">
                <input type="hidden" name="csrf" value={props.csrf} />
                <button type="submit">Sign out</button>
              </form>
            </>
          )}
        </header>
        <main>
          <h1>{props.title}</h1>
          {props.children}
        </main>
        {props.charts ? (
          <>
            <script src="/console/assets/uPlot.iife.min.js" defer></script>
            <script src="/console/assets/console.js" defer></script>
          </>
        ) : null}
      </body>
    </html>
  );
}

/** `2026-10-05T08:00:00.000Z` → `2026-10-05 08:00:00 UTC`: text only, no Date in between. */
export function when(iso: string | null | undefined): string {
  if (!iso) return '';
  return iso.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC');
}

/** A decimal written by the API is zero (`0`, `0.000`, `-0`): decided on its text. */
export const isZero = (d: string) => /^-?0*(\.0*)?$/.test(d) && /0/.test(d);

export function Num(props: { value: string | null | undefined; class?: string }) {
  return <td class={`num${props.class ? ` ${props.class}` : ''}`}>{props.value ?? ''}</td>;
}

export function Empty(props: { children?: Child }) {
  return <p class="empty">{props.children}</p>;
}

/** A "next page" link when the API gave a cursor. */
export function NextLink(props: { href: string | null }) {
  return props.href === null ? null : (
    <p class="pager">
      <a href={props.href} rel="next">
        Next page →
      </a>
    </p>
  );
}
