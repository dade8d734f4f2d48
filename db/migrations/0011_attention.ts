import type { Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */

/**
 * `attention`: why an enrollment waits for a person (the lifecycle status stays as it was, so the
 * device keeps being served). Commands remember when a push announced them.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('enrollments')
    .addColumn('attention_reason', 'text')
    .addColumn('attention_detail', 'text')
    .addColumn('attention_since', 'timestamptz')
    .execute();
  await db.schema.createIndex('enrollments_attention_idx').on('enrollments').column('attention_reason').execute();
  await db.schema.alterTable('command_queue').addColumn('pushed_at', 'timestamptz').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('command_queue').dropColumn('pushed_at').execute();
  await db.schema.dropIndex('enrollments_attention_idx').execute();
  await db.schema.alterTable('enrollments').dropColumn('attention_reason').dropColumn('attention_detail').dropColumn('attention_since').execute();
}
