// Fragments a Relay app writes against Almanac, compiled by relay-compiler in
// tests/tests/npm_clients.rs: every connection paged in both directions with @connection
// (usePaginationFragment's bidirectional form), and every Node type refetchable by id.
declare const graphql: (s: TemplateStringsArray) => unknown;

export const calendars = graphql`
  fragment Almanac_calendars on Query
  @refetchable(queryName: "AlmanacCalendarsPaginationQuery")
  @argumentDefinitions(first: { type: "Int" }, after: { type: "String" }, last: { type: "Int" }, before: { type: "String" }) {
    calendars(first: $first, after: $after, last: $last, before: $before) @connection(key: "Almanac_calendars__calendars") {
      edges {
        node {
          id
          name
        }
      }
    }
  }
`;

export const calendarSeries = graphql`
  fragment Almanac_calendarSeries on Calendar
  @refetchable(queryName: "AlmanacCalendarSeriesPaginationQuery")
  @argumentDefinitions(first: { type: "Int" }, after: { type: "String" }, last: { type: "Int" }, before: { type: "String" }) {
    id
    series(first: $first, after: $after, last: $last, before: $before) @connection(key: "Almanac_calendarSeries__series") {
      edges {
        node {
          id
          title
        }
      }
    }
  }
`;

export const occurrences = graphql`
  fragment Almanac_occurrences on Query
  @refetchable(queryName: "AlmanacOccurrencesPaginationQuery")
  @argumentDefinitions(
    calendarIds: { type: "[ID!]!" }
    from: { type: "DateTime!" }
    to: { type: "DateTime!" }
    first: { type: "Int" }
    after: { type: "String" }
    last: { type: "Int" }
    before: { type: "String" }
  ) {
    occurrences(calendarIds: $calendarIds, from: $from, to: $to, first: $first, after: $after, last: $last, before: $before)
      @connection(key: "Almanac_occurrences__occurrences", filters: ["calendarIds", "from", "to"]) {
      edges {
        node {
          id
          title
          localStart
        }
      }
    }
  }
`;

export const seriesOccurrences = graphql`
  fragment Almanac_seriesOccurrences on Series
  @refetchable(queryName: "AlmanacSeriesOccurrencesPaginationQuery")
  @argumentDefinitions(
    from: { type: "DateTime!" }
    to: { type: "DateTime!" }
    first: { type: "Int" }
    after: { type: "String" }
    last: { type: "Int" }
    before: { type: "String" }
  ) {
    id
    occurrences(from: $from, to: $to, first: $first, after: $after, last: $last, before: $before)
      @connection(key: "Almanac_seriesOccurrences__occurrences", filters: ["from", "to"]) {
      edges {
        node {
          id
        }
      }
    }
  }
`;

export const upcoming = graphql`
  fragment Almanac_upcoming on Query
  @refetchable(queryName: "AlmanacUpcomingPaginationQuery")
  @argumentDefinitions(
    seriesId: { type: "ID!" }
    from: { type: "DateTime!" }
    first: { type: "Int" }
    after: { type: "String" }
    last: { type: "Int" }
    before: { type: "String" }
  ) {
    upcomingOccurrences(seriesId: $seriesId, from: $from, first: $first, after: $after, last: $last, before: $before)
      @connection(key: "Almanac_upcoming__upcomingOccurrences", filters: ["seriesId", "from"]) {
      edges {
        node {
          id
        }
      }
    }
  }
`;

export const calendar = graphql`
  fragment Almanac_calendar on Calendar @refetchable(queryName: "AlmanacCalendarRefetchQuery") {
    id
    name
    timeZone
  }
`;

export const series = graphql`
  fragment Almanac_series on Series @refetchable(queryName: "AlmanacSeriesRefetchQuery") {
    id
    title
    version
  }
`;

export const occurrence = graphql`
  fragment Almanac_occurrence on Occurrence @refetchable(queryName: "AlmanacOccurrenceRefetchQuery") {
    id
    title
    status
  }
`;

export const apiKey = graphql`
  fragment Almanac_apiKey on ApiKey @refetchable(queryName: "AlmanacApiKeyRefetchQuery") {
    id
    name
    revokedAt
  }
`;

export const calendarLink = graphql`
  fragment Almanac_calendarLink on CalendarLink @refetchable(queryName: "AlmanacCalendarLinkRefetchQuery") {
    id
    direction
    account {
      id
      provider
    }
  }
`;

export const icsFeed = graphql`
  fragment Almanac_icsFeed on IcsFeed @refetchable(queryName: "AlmanacIcsFeedRefetchQuery") {
    id
    url
    revokedAt
  }
`;

export const providerAccount = graphql`
  fragment Almanac_providerAccount on ProviderAccount @refetchable(queryName: "AlmanacProviderAccountRefetchQuery") {
    id
    account
    state
  }
`;

export const remoteCalendar = graphql`
  fragment Almanac_remoteCalendar on RemoteCalendar @refetchable(queryName: "AlmanacRemoteCalendarRefetchQuery") {
    id
    remoteCalendarId
    name
  }
`;
