/**
 * Sandbox mode only: the local outbox where invites land instead of leaving the machine, as a
 * page for people and as JSON for the device simulator.
 */
import { Hono } from 'hono';
import { html } from 'hono/html';
import type { Db } from '../../db/connection.js';
import { layout } from '../portal/pages.js';

export function sandboxRoutes(db: Db, organization: string) {
  const app = new Hono();
  const recent = (to?: string) => {
    let q = db.selectFrom('sandbox_messages').selectAll().orderBy('id', 'desc').limit(50);
    if (to) q = q.where('recipient', '=', to);
    return q.execute();
  };

  app.get('/outbox', async (c) => {
    const messages = await recent();
    return c.html(
      layout(
        'Sandbox outbox',
        organization,
        html`<h1>Sandbox outbox</h1>
          <p class="note">Tandem runs in sandbox mode: invites are kept here instead of being emailed or texted, and pushes go to a local APNs sink.</p>
          ${messages.length
            ? messages.map(
                (m) => html`<div class="card">
                  <p class="note">${m.channel.toUpperCase()} to ${m.recipient} · ${m.created_at.toISOString()}</p>
                  ${m.subject ? html`<h2>${m.subject}</h2>` : ''}
                  <pre style="white-space:pre-wrap">${m.text_body}</pre>
                </div>`,
              )
            : html`<div class="card"><p>No messages yet.</p></div>`}`,
      ),
    );
  });

  app.get('/outbox.json', async (c) => {
    const messages = await recent(c.req.query('to'));
    return c.json({ items: messages.map((m) => ({ id: m.id, channel: m.channel, to: m.recipient, subject: m.subject, text: m.text_body, at: m.created_at.toISOString() })) });
  });

  return app;
}
