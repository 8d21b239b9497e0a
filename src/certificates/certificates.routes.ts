import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { AppError } from '../errors.ts';
import type { AppEnv, LicenseCaller, RouteDeps } from '../http/context.ts';
import { limitBody } from '../http/middleware.ts';
import { agentExpiry, platformExpiry, isActive, statusOf, type Expiry } from './certificates.service.ts';
import * as service from './certificates.service.ts';
import * as repo from './certificates.repository.ts';
import type { SigningKeys } from './keys.ts';
import { readPackage } from './package.ts';

export const agentIdSchema = z
  .string()
  .min(1, 'agentId is empty')
  .max(64, 'agentId is at most 64 characters')
  .regex(/^[A-Za-z0-9._:-]+$/, "agentId may hold letters, digits, '.', '_', ':' and '-' only")
  .openapi({ example: 'support-bot-1' });
export const certificateId = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'id must be a certificate id (1–64 letters, digits, ".", "_" or "-")');
const size = z
  .string()
  .regex(/^\d{1,4}$/, 'size must be a whole number from 1 to 1000')
  .transform(Number)
  .refine((n) => n >= 1 && n <= 1000, 'size must be a whole number from 1 to 1000')
  .optional();

const answer = <T extends z.ZodType>(data: T) => z.object({ code: z.literal(200), message: z.string(), data });
const errorAnswer = z.object({ code: z.number().int(), message: z.string(), data: z.null(), error: z.string() });
const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });
const errors = {
  400: { description: 'bad input', ...json(errorAnswer) },
  401: { description: 'no or wrong credentials', ...json(errorAnswer) },
  403: { description: "the vendor's token: these routes act for a project's customer", ...json(errorAnswer) },
  404: { description: 'unknown certificate or agent', ...json(errorAnswer) },
  409: { description: 'in conflict with what is registered', ...json(errorAnswer) },
  429: { description: 'more than the per-customer rate', ...json(errorAnswer) },
  503: { description: 'no signing key is configured, or the database did not answer', ...json(errorAnswer) },
};
const security = [{ projectBasic: [] }];

export const expiryView = (e: Expiry, now: Date) => ({ active: isActive(e, now), expiresAt: e.permanent ? null : (e.expiresAt?.toISOString() ?? null), permanent: e.permanent });
export const expiryShape = z.object({
  active: z.boolean(),
  expiresAt: z.string().nullable().openapi({ description: 'RFC 3339; null when permanent or never licensed' }),
  permanent: z.boolean(),
});
/** A listed certificate as `certificateView` shows it: the customer's list and the vendor's answer the same. */
export const certificateRowView = (r: Awaited<ReturnType<typeof repo.listCertificates>>[number], now: Date) => ({
  id: r.id,
  type: r.type,
  mode: r.mode,
  validityDays: r.validity_days,
  status: statusOf(r, r.agent_deleted_at, now),
  agentId: r.agent_id,
  activatedAt: r.activated_at?.toISOString() ?? null,
  expiresAt: r.expires_at?.toISOString() ?? null,
  packageId: r.package_id,
});

export const certificateView = z.object({
  id: z.string(),
  type: z.enum(['platform', 'agent', 'platform-unlimited']),
  mode: z.string(),
  validityDays: z.number().int().nullable().openapi({ description: 'null: permanent' }),
  status: z.enum(['unused', 'activated', 'expired']),
  agentId: z.string().nullable(),
  activatedAt: z.string().nullable(),
  expiresAt: z.string().nullable().openapi({ description: "the end of this certificate's days; null while unused or when permanent" }),
  packageId: z.string(),
});

/** The customer the certificate routes act for: a project's credentials name it. */
function customerOf(caller: LicenseCaller): string {
  if (caller.kind !== 'project') throw new AppError('forbidden', "Certificates are the customer's: call with a project's appKey:appSecret, not the vendor's token");
  return caller.customerId;
}

function keysOf(keys: SigningKeys | undefined): SigningKeys {
  if (!keys) throw new AppError('signing_key_missing', 'No license signing key is configured (LICENSE_SIGNING_KEY); certificates cannot be verified');
  return keys;
}

function ok<T>(c: Context<AppEnv>, data: T, message = 'success') {
  return c.json({ code: 200 as const, message, data }, 200);
}

/**
 * The customer's certificate routes, registered on the license API's own router (so they share its
 * authentication, rate limit and envelope) — called from license-api.routes.ts.
 */
export function registerCertificateRoutes(router: OpenAPIHono<AppEnv>, deps: RouteDeps): void {
  const db = deps.db;
  const maxBytes = deps.config.certificatePackageMaxBytes;
  router.use('/v2/certificates/upload', limitBody(maxBytes + 64 * 1024));
  for (const path of ['/v2/agents', '/v2/certificates/:id/bind']) router.use(path, limitBody(16 * 1024));

  router.openapi(
    createRoute({
      method: 'post',
      path: '/v2/certificates/upload',
      tags: ['Certificates'],
      summary: 'Upload a certificate package (.lcs)',
      description: `Multipart field \`file\`: a \`.lcs\` package issued by the vendor, at most ${maxBytes} bytes (CERTIFICATE_PACKAGE_MAX_BYTES). A package that is not intact or not signed by one of the vendor's keys is refused whole (nothing registered). Otherwise each certificate is \`registered\`, \`already_registered\` (an upload again changes nothing) or \`rejected\` with a reason (issued to another customer). Platform certificates activate at once, extending the platform from its current expiry.`,
      security,
      request: {
        body: { required: true, content: { 'multipart/form-data': { schema: z.object({ file: z.any().openapi({ type: 'string', format: 'binary' }) }) } } },
      },
      responses: {
        200: {
          description: 'what happened to each certificate',
          ...json(
            answer(
              z.object({
                packageId: z.string(),
                registered: z.number().int(),
                alreadyRegistered: z.number().int(),
                rejected: z.number().int(),
                certificates: z.array(
                  z.object({ id: z.string(), type: z.string(), status: z.enum(['registered', 'already_registered', 'rejected']), reason: z.string().optional() }),
                ),
              }),
            ),
          ),
        },
        413: { description: 'the package is larger than the cap', ...json(errorAnswer) },
        ...errors,
      },
    }),
    async (c) => {
      const customerId = customerOf(c.get('licenseCaller'));
      const keys = keysOf(deps.signingKeys);
      const { file } = c.req.valid('form');
      if (!(file instanceof File)) throw new AppError('invalid_upload', 'Send the package as the multipart field "file" (a .lcs file)');
      if (file.size > maxBytes) throw new AppError('payload_too_large', `The package is larger than ${maxBytes} bytes`);
      const pkg = readPackage(new Uint8Array(await file.arrayBuffer()), keys.verifying);
      const result = await service.upload(db, customerId, pkg, deps.clock());
      return ok(c, result, `${result.registered} registered, ${result.alreadyRegistered} already registered, ${result.rejected} rejected`);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/v2/certificates',
      tags: ['Certificates'],
      summary: "The customer's certificates, by id",
      description: 'Walk it with `after` = the previous page\'s `next`. `status`: `unused` (an agent certificate not bound yet), `activated`, `expired` (its days have passed, or its agent was deleted).',
      security,
      request: { query: z.object({ after: certificateId.optional(), size }) },
      responses: { 200: { description: 'a page', ...json(answer(z.object({ count: z.number().int(), list: z.array(certificateView), next: z.string().nullable() }))) }, ...errors },
    }),
    async (c) => {
      const customerId = customerOf(c.get('licenseCaller'));
      const q = c.req.valid('query');
      const limit = q.size ?? 100;
      const now = deps.clock();
      const [rows, count] = await Promise.all([repo.listCertificates(db, customerId, q.after, limit), repo.countCertificates(db, customerId)]);
      const list = rows.map((r) => certificateRowView(r, now));
      return ok(c, { count, list, next: rows.length === limit ? rows[rows.length - 1]!.id : null });
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/v2/agents',
      tags: ['Certificates'],
      summary: 'Register an agent (a resource of the platform)',
      description: 'Registering it again is a no-op. With a platform-unlimited certificate valid, the agent is licensed until the platform’s expiry without a certificate. A deleted agent’s id is not reused (409 agent_deleted).',
      security,
      request: { body: { required: true, ...json(z.object({ agentId: agentIdSchema })) } },
      responses: { 200: { description: 'registered', ...json(answer(z.object({ agentId: z.string(), created: z.boolean(), unlimited: z.boolean() }))) }, ...errors },
    }),
    async (c) => {
      const customerId = customerOf(c.get('licenseCaller'));
      const { agentId } = c.req.valid('json');
      const r = await service.registerAgent(db, customerId, agentId, deps.clock());
      return ok(c, { agentId, created: r.created, unlimited: r.agent.unlimited }, r.created ? `Agent ${agentId} registered` : `Agent ${agentId} was already registered`);
    },
  );

  router.openapi(
    createRoute({
      method: 'delete',
      path: '/v2/agents/{agentId}',
      tags: ['Certificates'],
      summary: 'Delete an agent: its certificates become expired',
      description: 'Deleting it again is a no-op.',
      security,
      request: { params: z.object({ agentId: agentIdSchema }) },
      responses: { 200: { description: 'deleted', ...json(answer(z.object({ agentId: z.string() }))) }, ...errors },
    }),
    async (c) => {
      const customerId = customerOf(c.get('licenseCaller'));
      const { agentId } = c.req.valid('param');
      await service.deleteAgent(db, customerId, agentId, deps.clock());
      return ok(c, { agentId }, `Agent ${agentId} deleted`);
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/v2/certificates/{id}/bind',
      tags: ['Certificates'],
      summary: 'Bind an unused agent certificate to an agent, for good',
      description:
        "Activates it: the agent's licence is extended by the certificate's days from its current expiry (from now when that has passed). Binding it again to the same agent is a no-op; to another agent, 409 certificate_bound_elsewhere. Platform certificates need no binding (409 certificate_not_bindable).",
      security,
      request: { params: z.object({ id: certificateId }), body: { required: true, ...json(z.object({ agentId: agentIdSchema })) } },
      responses: { 200: { description: 'bound', ...json(answer(certificateView.extend({ bound: z.boolean() }))) }, ...errors },
    }),
    async (c) => {
      const customerId = customerOf(c.get('licenseCaller'));
      const { id } = c.req.valid('param');
      const { agentId } = c.req.valid('json');
      const now = deps.clock();
      const { certificate: r, bound } = await service.bind(db, customerId, id, agentId, now);
      return ok(
        c,
        {
          id: r.id,
          type: r.type,
          mode: r.mode,
          validityDays: r.validity_days,
          status: statusOf(r, null, now),
          agentId: r.agent_id,
          activatedAt: r.activated_at?.toISOString() ?? null,
          expiresAt: r.expires_at?.toISOString() ?? null,
          packageId: r.package_id,
          bound,
        },
        bound ? `Certificate ${id} bound to agent ${agentId}` : `Certificate ${id} was already bound to agent ${agentId}`,
      );
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/v2/platform',
      tags: ['Certificates'],
      summary: "The platform's expiry and the agents with theirs",
      description: "Agents by id; walk them with `after` = the previous page's `next`. Deleted agents are not listed.",
      security,
      request: { query: z.object({ after: agentIdSchema.optional(), size }) },
      responses: {
        200: {
          description: 'the platform',
          ...json(
            answer(
              z.object({
                platform: expiryShape.extend({ unlimitedAgents: z.boolean() }),
                agents: z.array(expiryShape.extend({ agentId: z.string(), registeredAt: z.string(), unlimited: z.boolean() })),
                next: z.string().nullable(),
              }),
            ),
          ),
        },
        ...errors,
      },
    }),
    async (c) => {
      const customerId = customerOf(c.get('licenseCaller'));
      const q = c.req.valid('query');
      const limit = q.size ?? 100;
      const now = deps.clock();
      const [platform, agents] = await Promise.all([repo.findPlatform(db, customerId), repo.listAgents(db, customerId, q.after, limit)]);
      const unlimitedAgents = platform !== undefined && (platform.unlimited_permanent || (platform.unlimited_until !== null && platform.unlimited_until > now));
      return ok(c, {
        platform: { ...expiryView(platformExpiry(platform), now), unlimitedAgents },
        agents: agents.map((a) => ({ agentId: a.agent_id, registeredAt: a.registered_at.toISOString(), unlimited: a.unlimited, ...expiryView(agentExpiry(a, platform), now) })),
        next: agents.length === limit ? agents[agents.length - 1]!.agent_id : null,
      });
    },
  );
}
