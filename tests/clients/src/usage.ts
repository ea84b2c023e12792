// A small typed client, written the way a frontend uses the generated types. It is never run:
// `tsc --noEmit` (strict) checks it against generated/, so a schema change that breaks one of
// these operations — a field removed or renamed, a type or nullability changed — fails the build.
import { createClient, type Client } from "graphql-ws";
import type * as Ops from "../generated/operations";
import type { EditScope, OccurrenceRef, SlotRulesInput } from "../generated/schema";

/** Every example operation: its result and its variables. */
interface Operations {
  ListCalendars: [Ops.ListCalendarsQuery, Ops.ListCalendarsQueryVariables];
  CreateCalendar: [Ops.CreateCalendarMutation, Ops.CreateCalendarMutationVariables];
  CreateSeries: [Ops.CreateSeriesMutation, Ops.CreateSeriesMutationVariables];
  Occurrences: [Ops.OccurrencesQuery, Ops.OccurrencesQueryVariables];
  EditOccurrence: [Ops.EditOccurrenceMutation, Ops.EditOccurrenceMutationVariables];
  BookableSlots: [Ops.BookableSlotsQuery, Ops.BookableSlotsQueryVariables];
}
interface Subscriptions {
  OccurrencesChanged: [Ops.OccurrencesChangedSubscription, Ops.OccurrencesChangedSubscriptionVariables];
  SeriesChanged: [Ops.SeriesChangedSubscription, Ops.SeriesChangedSubscriptionVariables];
}

/** The documents of operations/*.graphql (with their fragments), as a bundler would load them. */
declare const documents: Record<keyof Operations | keyof Subscriptions, string>;

interface GraphQLError {
  message: string;
  extensions?: { code?: string; currentVersion?: number };
}

class AlmanacError extends Error {
  constructor(readonly errors: GraphQLError[]) {
    super(errors.map((e) => `${e.extensions?.code ?? "?"}: ${e.message}`).join("; "));
  }
}

export class Almanac {
  readonly ws: Client;

  constructor(
    private readonly url: string,
    private readonly token?: string,
  ) {
    this.ws = createClient({
      url: url.replace(/^http/, "ws") + "/ws",
      connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    });
  }

  async request<N extends keyof Operations>(name: N, variables: Operations[N][1]): Promise<Operations[N][0]> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const res = await fetch(this.url, {
      method: "POST",
      headers,
      body: JSON.stringify({ query: documents[name], variables, operationName: name }),
    });
    const body = (await res.json()) as { data?: Operations[N][0] | null; errors?: GraphQLError[] };
    if (body.errors?.length || !body.data) throw new AlmanacError(body.errors ?? []);
    return body.data;
  }

  /** Calls `onData` for every event until the returned function is called. */
  subscribe<N extends keyof Subscriptions>(
    name: N,
    variables: Subscriptions[N][1],
    onData: (data: Subscriptions[N][0]) => void,
  ): () => void {
    return this.ws.subscribe<Subscriptions[N][0]>(
      { query: documents[name], variables, operationName: name },
      {
        next: (r) => {
          if (r.data) onData(r.data);
        },
        error: (e) => console.error(e),
        complete: () => {},
      },
    );
  }
}

type Occurrence = Ops.OccurrenceFieldsFragment;

/** A mutation payload's object, which is null when the mutation was refused. */
function must<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`${what} was refused`);
  return value;
}

export async function allCalendars(api: Almanac): Promise<Map<string, string>> {
  const byId = new Map<string, string>();
  let after: string | null = null;
  for (;;) {
    const page: Ops.ListCalendarsQuery = await api.request("ListCalendars", { first: 50, after });
    for (const { node } of page.calendars.edges) {
      byId.set(node.id, `${node.name} (${node.timeZone}, ${node.availabilityMode.toLowerCase()})`);
    }
    if (!page.calendars.pageInfo.hasNextPage) return byId;
    after = page.calendars.pageInfo.endCursor;
  }
}

export async function weeklyStandup(api: Almanac): Promise<{ calendarId: string; seriesId: string; version: number }> {
  const { createCalendar } = await api.request("CreateCalendar", {
    input: { name: "Team", timeZone: "Europe/Berlin", availability: { mode: "DEFAULT", workingHours: [{ days: ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"], start: "09:00", end: "17:00" }] } },
  });
  const calendar = must(createCalendar.calendar, "createCalendar");
  const { createSeries } = await api.request("CreateSeries", {
    input: {
      calendarId: calendar.id,
      title: "Standup",
      start: "2026-01-05T09:00:00",
      duration: "PT15M",
      recurrence: { rrule: "FREQ=WEEKLY;BYDAY=MO,WE,FR" },
      conflictPolicy: "REJECT",
    },
  });
  const s = must(createSeries.series, "createSeries");
  const rule: string = s.recurrence?.rrule ?? "(single)";
  console.log(`${s.title}: ${rule}, ${s.duration} from ${s.start} ${s.timeZone}`);
  return { calendarId: s.calendarId, seriesId: s.id, version: s.version };
}

/** A calendar view: every occurrence in [from, to), page by page, grouped by local day. */
export async function week(api: Almanac, calendarIds: string[], from: string, to: string): Promise<Map<string, Occurrence[]>> {
  const days = new Map<string, Occurrence[]>();
  let after: string | null = null;
  do {
    const { occurrences }: Ops.OccurrencesQuery = await api.request("Occurrences", {
      calendarIds,
      from,
      to,
      first: 100,
      after,
    });
    for (const { node } of occurrences.edges) {
      const day = node.localStart.slice(0, 10);
      days.set(day, [...(days.get(day) ?? []), node]);
    }
    after = occurrences.pageInfo.hasNextPage ? occurrences.pageInfo.endCursor : null;
  } while (after !== null);
  return days;
}

/** The edit dialog: retitle only this occurrence, or this and every later one. */
export async function retitle(api: Almanac, o: Occurrence, version: number, title: string, scope: EditScope): Promise<number> {
  const occurrence: OccurrenceRef = { seriesId: o.seriesId, recurrenceId: o.recurrenceId };
  const { editOccurrence } = await api.request("EditOccurrence", {
    input: { occurrence, scope, expectedVersion: version, changes: { title } },
  });
  const r = must(editOccurrence.report, "editOccurrence");
  if (r.exceptionsDropped.length > 0) {
    console.warn(r.exceptionsDropped.map((d) => `${d.recurrenceId}: ${d.reason}`).join("\n"));
  }
  if (scope === "THIS_AND_FOLLOWING" && !r.splitAtFirstOccurrence) {
    const split = editOccurrence.series?.lineage;
    console.log(`split from ${split?.parentSeriesId ?? "?"} at ${split?.splitAt ?? "?"}; was v${editOccurrence.originalSeries?.version ?? 0}`);
  }
  const shown: string | undefined = editOccurrence.occurrence?.title;
  console.log(shown === title ? "retitled" : "no longer shown");
  return (editOccurrence.series?.version ?? version) + 0;
}

export async function firstFreeHalfHours(api: Almanac, calendarIds: string[], now: string): Promise<Array<{ start: Date; who: string[] }>> {
  const rules: SlotRulesInput = { calendarIds, duration: "PT30M", now, timeZone: "Europe/Berlin", mode: "ANY", minimumNotice: "PT2H" };
  const { bookableSlots } = await api.request("BookableSlots", { rules, from: now, to: "2026-02-01T00:00:00Z", first: 20 });
  if (bookableSlots.hasMore) console.log("more slots exist");
  return bookableSlots.slots.map((s) => ({ start: new Date(s.start), who: s.calendarIds }));
}

/** Keeps a view's occurrences current from the subscription. */
export function live(api: Almanac, calendarIds: string[], view: Map<string, Occurrence>): () => void {
  const stopSeries = api.subscribe("SeriesChanged", { calendarIds }, ({ seriesChanged }) => {
    if (seriesChanged.change === "DELETED") console.log(`series ${seriesChanged.seriesId} deleted`);
    else console.log(`${seriesChanged.series?.title ?? "?"} is now v${seriesChanged.series?.version ?? 0}`);
  });
  const stopOccurrences = api.subscribe(
    "OccurrencesChanged",
    { calendarIds, from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z" },
    ({ occurrencesChanged: { added, changed, removed } }) => {
      for (const o of [...added, ...changed]) view.set(o.id, o);
      for (const id of removed) view.delete(id);
    },
  );
  return () => {
    stopSeries();
    stopOccurrences();
  };
}
