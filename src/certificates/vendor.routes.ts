import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../errors.ts';
import type { AppDeps } from '../http/context.ts';
import { useEnvelope } from '../http/envelope.ts';
import { adminAuth, limitBody } from '../http/middleware.ts';
import { newRouter } from '../http/router.ts';
import { customerIdSchema, projectIdSchema } from '../ids.ts';
import { findCustomer, findProject } from '../provisioning/provisioning.repository.ts';
import { certificateId, certificateRowView, certificateView, expiryShape, expiryView } from './certificates.routes.ts';
import * as certificatesRepo from './certificates.repository.ts';
import { agentExpiry, platformExpiry } from './certificates.service.ts';
import type { SigningKeys } from './keys.ts';
import { LicenseFiles, licenseUrlOf, projectOfToken, rotateToken } from './license-file.ts';
import { CERTIFICATE_TYPES, issuePackage, MAX_PACKAGE_CERTIFICATES, modeSchema, validityDaysSchema } from './package.ts';

const errorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
const errorContent = (description: string) => ({ description, content: { 'application/json': { schema: errorBody } } });

function keysOf(keys: SigningKeys | undefined): SigningKeys {
  if (!keys) throw new AppError('signing_key_missing', 'No license signing key is configured (LICENSE_SIGNING_KEY)');
  return keys;
}

const issueBody = z.object({
  customerId: customerIdSchema,
  certificates: z
    .array(
      z.object({
        type: z.enum(CERTIFICATE_TYPES, { error: 'type must be platform, agent or platform-unlimited' }),
        mode: modeSchema.openapi({ example: 'subscription' }),
        validityDays: validityDaysSchema.openapi({ description: 'days; null: permanent', example: 365 }),
        count: z.number().int('count must be a whole number').min(1, 'count must be at least 1').max(MAX_PACKAGE_CERTIFICATES, `count must be at most ${MAX_PACKAGE_CERTIFICATES}`),
      }),
    )
    .min(1, 'certificates must hold at least one line')
    .max(100, 'at most 100 lines'),
});

/**
 * The signing keys' public half, the vendor's certificate packages and the project license files
 * (docs/certificates.md). Each path has its own middleware: mounted at '/', nothing here reaches
 * another router's paths.
 */
export function certificateVendorRoutes(deps: AppDeps & { signingKeys?: SigningKeys | undefined }) {
  const router = newRouter();
  const files = new LicenseFiles(deps.db, deps.config.licenseFileTtlDays);
  router.use('/.well-known/license-keys', useEnvelope('vendor'));
  router.use('/license-files/:token', useEnvelope('vendor'));
  router.use('/v1/certificate-packages', useEnvelope('vendor'), adminAuth({ token: deps.adminToken }), limitBody(64 * 1024));
  router.use('/v1/projects/:projectId/license-file/rotate', useEnvelope('vendor'), adminAuth({ token: deps.adminToken }), limitBody(1024));
  router.use('/v1/customers/:customerId/certificates', useEnvelope('vendor'), adminAuth({ token: deps.adminToken }), limitBody(1024));

  router.openapi(
    createRoute({
      method: 'get',
      path: '/.well-known/license-keys',
      tags: ['Certificates'],
      summary: 'The public keys that verify certificate packages and license files',
      description: 'The current key and the earlier ones kept for rotation (LICENSE_RETIRED_PUBLIC_KEYS). `publicKey` is SPKI PEM; `x` the raw 32-byte key, base64url.',
      responses: {
        200: {
          description: 'the keys',
          content: {
            'application/json': {
              schema: z.object({
                current: z.string(),
                keys: z.array(z.object({ kid: z.string(), alg: z.literal('Ed25519'), publicKey: z.string(), x: z.string() })),
              }),
            },
          },
        },
        503: errorContent('no signing key is configured'),
      },
    }),
    (c) => {
      const keys = keysOf(deps.signingKeys);
      c.header('cache-control', 'public, max-age=300');
      return c.json({ current: keys.current.kid, keys: keys.published }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/v1/certificate-packages',
      tags: ['Certificates'],
      summary: 'Issue a certificate package (.lcs) for a customer',
      description: `Answers the signed \`.lcs\` file (at most ${MAX_PACKAGE_CERTIFICATES} certificates). Nothing is stored: a certificate exists for the server once the customer uploads the package.`,
      security: [{ adminToken: [] }],
      request: { body: { required: true, content: { 'application/json': { schema: issueBody } } } },
      responses: {
        200: { description: 'the package', content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } },
        400: errorContent('bad input'),
        401: errorContent('no or wrong admin token'),
        503: errorContent('no signing key is configured'),
      },
    }),
    (c) => {
      const b = c.req.valid('json');
      const keys = keysOf(deps.signingKeys);
      const total = b.certificates.reduce((n, l) => n + l.count, 0);
      if (total > MAX_PACKAGE_CERTIFICATES) throw new AppError('invalid_parameter', `A package holds at most ${MAX_PACKAGE_CERTIFICATES} certificates; asked for ${total}`);
      const pkg = issuePackage(keys, b.customerId, b.certificates, deps.clock());
      return c.body(pkg.text, 200, {
        'content-type': 'application/octet-stream',
        'content-disposition': `attachment; filename="${pkg.packageId}.lcs"`,
        'x-package-id': pkg.packageId,
        'x-certificate-count': String(pkg.count),
      });
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/v1/projects/{projectId}/license-file/rotate',
      tags: ['Certificates'],
      summary: "Give a project's license file a new URL",
      description: 'The old URL answers 404 from now on; provisioning answers the new one.',
      security: [{ adminToken: [] }],
      request: { params: z.object({ projectId: z.string().openapi({ example: '430892' }) }) },
      responses: {
        200: { description: 'the new URL', content: { 'application/json': { schema: z.object({ projectId: z.string(), licenseUrl: z.string() }) } } },
        400: errorContent('bad projectId, or PUBLIC_URL is not set'),
        401: errorContent('no or wrong admin token'),
        404: errorContent('unknown project'),
      },
    }),
    async (c) => {
      const parsed = projectIdSchema.safeParse(c.req.param('projectId'));
      if (!parsed.success) throw new AppError('invalid_parameter', `projectId: ${parsed.error.issues[0]!.message}`);
      const projectId = parsed.data;
      if (!deps.config.publicUrl) throw new AppError('invalid_request', 'PUBLIC_URL is not set: license file URLs need it');
      if (!(await findProject(deps.db, projectId))) throw new AppError('unknown_project', `Project ${projectId} is not provisioned`);
      const token = await rotateToken(deps.db, projectId, deps.clock());
      return c.json({ projectId, licenseUrl: licenseUrlOf(deps.config.publicUrl, token) }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/license-files/{token}',
      tags: ['Certificates'],
      summary: "A project's signed license file",
      description:
        'The URL is the `licenseUrl` of provisioning (LICENSE_FILES=on). The file lists the project’s device licenses, the customer’s certificates, platform and agents in force, `issuedAt` and `validUntil`, signed; see docs/certificates.md to verify it. A wrong or rotated token answers 404.',
      request: { params: z.object({ token: z.string() }) },
      responses: {
        200: { description: 'the license file', content: { 'text/plain': { schema: z.string() } } },
        404: errorContent('no such license file'),
        503: errorContent('no signing key is configured'),
      },
    }),
    async (c) => {
      const token = c.req.param('token');
      const project = deps.config.licenseFiles && /^[A-Za-z0-9_-]{16,128}$/.test(token) ? await projectOfToken(deps.db, token) : undefined;
      if (!project) throw new AppError('not_found', 'No such license file');
      const text = await files.fileOf(keysOf(deps.signingKeys), project, deps.clock());
      c.header('cache-control', 'no-store');
      return c.text(text, 200);
    },
  );
  // What the customer's license API lists (GET /dabiz/license/v2/certificates and /v2/platform),
  // read by the vendor: the console's licenses page. Keyset pages of the customer's own rows.
  const AGENTS_SHOWN = 100;
  router.openapi(
    createRoute({
      method: 'get',
      path: '/v1/customers/{customerId}/certificates',
      tags: ['Certificates'],
      summary: "A customer's certificates, platform and agents (read only)",
      description: `The certificates by id (walk them with \`after\` = the previous page's \`next\`), the platform's expiry, and the first ${AGENTS_SHOWN} agents by id (deleted ones are not listed; \`agentsMore\`: there are more).`,
      security: [{ adminToken: [] }],
      request: {
        params: z.object({ customerId: customerIdSchema }),
        query: z.object({
          after: certificateId.optional(),
          size: z
            .string()
            .regex(/^\d{1,3}$/, 'size must be a whole number from 1 to 100')
            .transform(Number)
            .refine((n) => n >= 1 && n <= 100, 'size must be a whole number from 1 to 100')
            .optional(),
        }),
      },
      responses: {
        200: {
          description: "the customer's certificates",
          content: {
            'application/json': {
              schema: z.object({
                customerId: z.string(),
                count: z.number().int(),
                data: z.array(certificateView),
                next: z.string().nullable(),
                platform: expiryShape.extend({ unlimitedAgents: z.boolean() }),
                agents: z.array(expiryShape.extend({ agentId: z.string(), registeredAt: z.string(), unlimited: z.boolean() })),
                agentsMore: z.boolean(),
              }),
            },
          },
        },
        400: errorContent('bad input'),
        401: errorContent('no or wrong admin token'),
        404: errorContent('unknown customer'),
      },
    }),
    async (c) => {
      const { customerId } = c.req.valid('param');
      const q = c.req.valid('query');
      const limit = q.size ?? 100;
      if (!(await findCustomer(deps.db, customerId))) throw new AppError('unknown_customer', `Customer ${customerId} is not provisioned`);
      const now = deps.clock();
      const [rows, count, platform, agents] = await Promise.all([
        certificatesRepo.listCertificates(deps.db, customerId, q.after, limit),
        certificatesRepo.countCertificates(deps.db, customerId),
        certificatesRepo.findPlatform(deps.db, customerId),
        certificatesRepo.listAgents(deps.db, customerId, undefined, AGENTS_SHOWN + 1),
      ]);
      const unlimitedAgents = platform !== undefined && (platform.unlimited_permanent || (platform.unlimited_until !== null && platform.unlimited_until > now));
      return c.json(
        {
          customerId,
          count,
          data: rows.map((r) => certificateRowView(r, now)),
          next: rows.length === limit ? rows[rows.length - 1]!.id : null,
          platform: { ...expiryView(platformExpiry(platform), now), unlimitedAgents },
          agents: agents
            .slice(0, AGENTS_SHOWN)
            .map((a) => ({ agentId: a.agent_id, registeredAt: a.registered_at.toISOString(), unlimited: a.unlimited, ...expiryView(agentExpiry(a, platform), now) })),
          agentsMore: agents.length > AGENTS_SHOWN,
        },
        200,
      );
    },
  );
  return router;
}
