// The dashboards GraphQL API (services/gateway/.../dashboards.py): dashboards as data, saved against the
// revision they were read at; a refused save answers the current dashboard instead (DashboardConflict).

import type { Visualization } from "../model/builder";
import { literal } from "../model/graphql";
import type { Panel } from "../model/panels";
import { request } from "./graphql";

export interface Share {
  kind: "USER" | "ROLE" | "EVERYONE";
  name: string;
  permission: "VIEW" | "EDIT";
}

export interface Dashboard {
  id: string;
  owner: string;
  ownerName: string;
  title: string;
  description: string;
  panels: Panel[];
  shares: Share[];
  link: { createdAt: string; createdBy: string } | null;
  createdAt: string;
  updatedAt: string;
  updatedBy: string;
  updatedByName: string;
  revision: number;
}

export interface Revision {
  revision: number;
  updatedAt: string;
  updatedBy: string;
  updatedByName: string;
  title: string;
  panels: number;
}

export type Saved = { saved: Dashboard } | { conflict: Dashboard; message: string };

const FIELDS = `id owner ownerName title description revision createdAt updatedAt updatedBy updatedByName
  link { createdAt createdBy }
  shares { kind name permission }
  panels { id title query visualization options problems layout { x y w h } }`;

interface RawPanel extends Omit<Panel, "visualization"> {
  visualization: string;
}

interface RawDashboard extends Omit<Dashboard, "panels"> {
  panels: RawPanel[];
}

function dashboard(raw: RawDashboard): Dashboard {
  return {
    ...raw,
    panels: raw.panels.map((p) => ({ ...p, visualization: p.visualization.toLowerCase() as Visualization })),
  };
}

export interface Content {
  title: string;
  description: string;
  panels: Panel[];
}

/** DashboardInput as a GraphQL literal (the panel query and options are JSON values, written as objects). */
function input(content: Content): string {
  return literal({
    title: content.title,
    description: content.description,
    panels: content.panels.map((p) => ({
      id: p.id,
      title: p.title,
      query: p.query,
      visualization: { enum: p.visualization.toUpperCase() },
      options: p.options,
      layout: p.layout,
    })),
  });
}

export async function listDashboards(scope: "MINE" | "SHARED" | "PUBLIC"): Promise<Dashboard[]> {
  const data = await request<{ dashboards: RawDashboard[] }>(`query StrixDashboards { dashboards(scope: ${scope}) { ${FIELDS} } }`);
  return data.dashboards.map(dashboard);
}

export async function getDashboard(id: string, revision?: number): Promise<Dashboard> {
  const args = literal({ id, ...(revision ? { revision } : {}) }).slice(1, -1);
  const data = await request<{ dashboard: RawDashboard }>(`query StrixDashboard { dashboard(${args}) { ${FIELDS} } }`);
  return dashboard(data.dashboard);
}

export async function createDashboard(content: Content): Promise<Dashboard> {
  const data = await request<{ createDashboard: RawDashboard }>(
    `mutation StrixCreate { createDashboard(input: ${input(content)}) { ${FIELDS} } }`,
  );
  return dashboard(data.createDashboard);
}

function savedOf(raw: (RawDashboard & { __typename: "Dashboard" }) | { __typename: "DashboardConflict"; message: string; current: RawDashboard }): Saved {
  return raw.__typename === "DashboardConflict"
    ? { conflict: dashboard(raw.current), message: raw.message }
    : { saved: dashboard(raw) };
}

const SAVED = `__typename ... on Dashboard { ${FIELDS} } ... on DashboardConflict { message current { ${FIELDS} } }`;

export async function editDashboard(id: string, revision: number, content: Content): Promise<Saved> {
  const data = await request<{ editDashboard: Parameters<typeof savedOf>[0] }>(
    `mutation StrixEdit { editDashboard(id: ${literal(id)}, revision: ${revision}, input: ${input(content)}) { ${SAVED} } }`,
  );
  return savedOf(data.editDashboard);
}

export async function revisions(id: string): Promise<Revision[]> {
  const data = await request<{ dashboardRevisions: Revision[] }>(
    `query StrixRevisions { dashboardRevisions(id: ${literal(id)}) { revision updatedAt updatedBy updatedByName title panels } }`,
  );
  return data.dashboardRevisions;
}

export async function restoreRevision(id: string, revision: number, fromRevision: number): Promise<Saved> {
  const data = await request<{ restoreDashboardRevision: Parameters<typeof savedOf>[0] }>(
    `mutation StrixRestore { restoreDashboardRevision(id: ${literal(id)}, revision: ${revision}, fromRevision: ${fromRevision}) { ${SAVED} } }`,
  );
  return savedOf(data.restoreDashboardRevision);
}

export async function deleteDashboard(id: string): Promise<void> {
  await request(`mutation StrixDelete { deleteDashboard(id: ${literal(id)}) }`);
}

export async function duplicateDashboard(id: string): Promise<Dashboard> {
  const data = await request<{ duplicateDashboard: RawDashboard }>(
    `mutation StrixDuplicate { duplicateDashboard(id: ${literal(id)}) { ${FIELDS} } }`,
  );
  return dashboard(data.duplicateDashboard);
}

export async function shareDashboard(id: string, share: Share): Promise<Dashboard> {
  const args = `id: ${literal(id)}, kind: ${share.kind}, name: ${literal(share.name)}, permission: ${share.permission}`;
  const data = await request<{ shareDashboard: RawDashboard }>(`mutation StrixShare { shareDashboard(${args}) { ${FIELDS} } }`);
  return dashboard(data.shareDashboard);
}

export async function unshareDashboard(id: string, share: Share): Promise<Dashboard> {
  const args = `id: ${literal(id)}, kind: ${share.kind}, name: ${literal(share.name)}`;
  const data = await request<{ unshareDashboard: RawDashboard }>(`mutation StrixUnshare { unshareDashboard(${args}) { ${FIELDS} } }`);
  return dashboard(data.unshareDashboard);
}

export async function transferDashboard(id: string, owner: string): Promise<Dashboard> {
  const data = await request<{ transferDashboard: RawDashboard }>(
    `mutation StrixTransfer { transferDashboard(id: ${literal(id)}, owner: ${literal(owner)}) { ${FIELDS} } }`,
  );
  return dashboard(data.transferDashboard);
}

export async function createLink(id: string): Promise<{ token: string; dashboard: Dashboard }> {
  const data = await request<{ createDashboardLink: { token: string; dashboard: RawDashboard } }>(
    `mutation StrixLink { createDashboardLink(id: ${literal(id)}) { token dashboard { ${FIELDS} } } }`,
  );
  return { token: data.createDashboardLink.token, dashboard: dashboard(data.createDashboardLink.dashboard) };
}

export async function revokeLink(id: string): Promise<Dashboard> {
  const data = await request<{ revokeDashboardLink: RawDashboard }>(
    `mutation StrixRevoke { revokeDashboardLink(id: ${literal(id)}) { ${FIELDS} } }`,
  );
  return dashboard(data.revokeDashboardLink);
}
