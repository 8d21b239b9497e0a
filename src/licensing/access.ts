import type { Db } from '../db/database.ts';
import type { Project } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { LicenseCaller } from '../http/context.ts';
import { findProject } from '../provisioning/provisioning.repository.ts';

/**
 * The project named by `appid`, if the caller may use it: project credentials reach only their own
 * customer's projects, the admin token every project. Changes (activation, allocation, renewal,
 * whitelist) need the project to be active; reads do not.
 */
export async function projectFor(db: Db, caller: LicenseCaller, appid: string, opts: { change: boolean }): Promise<Project> {
  const project = await findProject(db, appid);
  if (!project) throw new AppError('unknown_project', `Project ${appid} is not provisioned`);
  if (caller.kind === 'project' && project.customer_id !== caller.customerId) {
    throw new AppError('project_forbidden', `Project ${appid} belongs to another customer; these credentials reach only their own customer's projects`);
  }
  if (opts.change && project.deactivated_at) {
    throw new AppError('project_inactive', `Project ${appid} is deactivated; enable the extension for it again first`);
  }
  return project;
}
