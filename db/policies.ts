/**
 * Policies: configuration profiles (restrictions, passcode, Wi-Fi, web clips…) assigned to every
 * enrollment or to a directory group. Specs are sealed (they can hold Wi-Fi and account passwords);
 * each change is a new version, applied once per enrollment (policy_applications).
 */
import { sql } from 'kysely';
import type { ProfileSpec } from '../mdm/payloads.js';
import type { SecretBox } from '../security/secret-box.js';
import type { Db } from './connection.js';
import { policySealContext } from './seal-contexts.js';


export interface RequiredApp {
  adamId: string;
  bundleId: string;
}

export interface PolicyInput {
  name: string;
  group: string | null;
  /** a configuration profile, and/or apps every device in scope must have */
  profile: ProfileSpec | null;
  requiredApps: RequiredApp[];
}

interface StoredSpec {
  profile: ProfileSpec | null;
  requiredApps: RequiredApp[];
}

const openSpec = (box: SecretBox, id: string, sealed: Buffer): StoredSpec => JSON.parse(box.openText(sealed, policySealContext(id))) as StoredSpec;
const sealSpec = (box: SecretBox, id: string, input: PolicyInput) => box.seal(JSON.stringify({ profile: input.profile, requiredApps: input.requiredApps } satisfies StoredSpec), policySealContext(id));

export interface PolicyView {
  id: string;
  name: string;
  group: string | null;
  version: number;
  payloadKinds: string[];
  requiredApps: RequiredApp[];
  updatedAt: string;
}

/** The profile identifier a policy's profile has on devices: a new version replaces the old one. */
export const policyProfileIdentifier = (policyId: string) => `com.tandem.policy.${policyId}`;

export async function createPolicy(db: Db, box: SecretBox, input: PolicyInput): Promise<{ id: string; version: number }> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('policies')
      .values({ name: input.name, group_name: input.group, spec_sealed: Buffer.alloc(0) })
      .returning(['id', 'version'])
      .executeTakeFirstOrThrow();
    await trx.updateTable('policies').set({ spec_sealed: sealSpec(box, row.id, input) }).where('id', '=', row.id).execute();
    return row;
  });
}

export async function updatePolicy(db: Db, box: SecretBox, id: string, input: PolicyInput): Promise<{ id: string; version: number } | undefined> {
  return db
    .updateTable('policies')
    .set({
      name: input.name,
      group_name: input.group,
      spec_sealed: sealSpec(box, id, input),
      version: sql`version + 1`,
      updated_at: sql`now()`,
    })
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .returning(['id', 'version'])
    .executeTakeFirst();
}

export async function deletePolicy(db: Db, id: string): Promise<boolean> {
  const r = await db.updateTable('policies').set({ deleted_at: sql`now()` }).where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function listPolicies(db: Db, box: SecretBox): Promise<PolicyView[]> {
  const rows = await db.selectFrom('policies').selectAll().where('deleted_at', 'is', null).orderBy('created_at').execute();
  return rows.map((r) => {
    const spec = openSpec(box, r.id, r.spec_sealed);
    return {
      id: r.id,
      name: r.name,
      group: r.group_name,
      version: r.version,
      payloadKinds: spec.profile?.payloads.map((p) => p.kind) ?? [],
      requiredApps: spec.requiredApps,
      updatedAt: r.updated_at.toISOString(),
    };
  });
}

/** Policies that apply to an enrollment (everyone's, and its user's groups'), with their specs. */
export async function policiesFor(db: Db, box: SecretBox, enrollmentId: string) {
  const user = await db
    .selectFrom('enrollments as e')
    .innerJoin('users as u', 'u.id', 'e.user_id')
    .select(['u.groups'])
    .where('e.id', '=', enrollmentId)
    .executeTakeFirstOrThrow();
  const rows = await db
    .selectFrom('policies')
    .select(['id', 'name', 'version', 'spec_sealed'])
    .where('deleted_at', 'is', null)
    .where((eb) => eb.or([eb('group_name', 'is', null), ...(user.groups.length ? [eb('group_name', 'in', user.groups)] : [])]))
    .orderBy('created_at')
    .execute();
  return rows.map((r) => ({ id: r.id, name: r.name, version: r.version, ...openSpec(box, r.id, r.spec_sealed) }));
}

/** Enrolled enrollments a policy reaches, to tell their workflows it changed. */
export async function enrollmentsReachedBy(db: Db, group: string | null): Promise<string[]> {
  let q = db.selectFrom('enrollments as e').innerJoin('users as u', 'u.id', 'e.user_id').select('e.id').where('e.status', 'in', ['enrolled', 'inactive']);
  if (group) q = q.where(sql<boolean>`${group} = any(u.groups)`);
  return (await q.execute()).map((r) => r.id);
}

export async function applicationsFor(db: Db, enrollmentId: string) {
  return db
    .selectFrom('policy_applications as a')
    .innerJoin('policies as p', 'p.id', 'a.policy_id')
    .leftJoin('command_queue as c', 'c.command_uuid', 'a.command_uuid')
    .select(['a.policy_id', 'p.name', 'a.version', 'a.command_uuid', 'a.refused_code', 'a.refused_message', 'a.notes', 'a.created_at', 'c.status as command_status'])
    .where('a.enrollment_id', '=', enrollmentId)
    .orderBy('a.id', 'desc')
    .execute();
}
