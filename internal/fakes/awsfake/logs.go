package awsfake

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

func logsService() *service {
	return &service{name: "logs", wire: wireJSON11, target: "Logs_20140328", ops: map[string]op{
		"CreateLogGroup":     jsonOp((*Server).logsCreateLogGroup),
		"CreateLogStream":    jsonOp((*Server).logsCreateLogStream),
		"DescribeLogGroups":  jsonOp((*Server).logsDescribeLogGroups),
		"DescribeLogStreams": jsonOp((*Server).logsDescribeLogStreams),
		"PutLogEvents":       jsonOp((*Server).logsPutLogEvents),
		"GetLogEvents":       jsonOp((*Server).logsGetLogEvents),
		"FilterLogEvents":    jsonOp((*Server).logsFilterLogEvents),
	}}
}

type logsState struct {
	groups map[string]*logGroup
	seq    int64 // orders events with equal timestamps, in ingestion order
}

func (l *logsState) init() { l.groups = map[string]*logGroup{} }

type logGroup struct {
	name    string
	created time.Time
	streams map[string]*logStream
	tags    map[string]string
}

type logStream struct {
	group      *logGroup
	name       string
	created    time.Time
	events     []logEvent // sorted by (ts, seq)
	lastIngest int64
}

type logEvent struct {
	ts, ingest, seq int64
	msg             string
}

// key orders events; it is what GetLogEvents tokens point between.
type logKey struct{ ts, seq int64 }

func (e logEvent) key() logKey { return logKey{e.ts, e.seq} }

func (k logKey) less(o logKey) bool { return k.ts < o.ts || k.ts == o.ts && k.seq < o.seq }

var (
	logGroupNameRE  = lazyregexp.New(`^[.\-_/#A-Za-z0-9]{1,512}$`)
	logStreamNameRE = lazyregexp.New(`^[^:*]{1,512}$`)
)

func logsNotFound(msg string) *apiError {
	return newErr(400, "ResourceNotFoundException", "%s", msg)
}

func logsInvalid(format string, args ...any) *apiError {
	return newErr(400, "InvalidParameterException", format, args...)
}

func (s *Server) logGroupArn(name string) string { return s.arn("logs", "log-group:"+name) }

func (s *Server) createLogGroupLocked(name string) *logGroup {
	g := &logGroup{name: name, created: s.now(), streams: map[string]*logStream{}, tags: map[string]string{}}
	s.logs.groups[name] = g
	return g
}

func (s *Server) createLogStreamLocked(g *logGroup, name string) *logStream {
	st := &logStream{group: g, name: name, created: s.now()}
	g.streams[name] = st
	return st
}

func (st *logStream) append(e logEvent) {
	i, _ := slices.BinarySearchFunc(st.events, e.key(), func(a logEvent, k logKey) int {
		if a.key().less(k) {
			return -1
		}
		return 1
	})
	st.events = slices.Insert(st.events, i, e)
	st.lastIngest = e.ingest
}

func (s *Server) putLogLocked(st *logStream, ts time.Time, msg string) {
	s.logs.seq++
	st.append(logEvent{ts: ts.UnixMilli(), ingest: s.now().UnixMilli(), seq: s.logs.seq, msg: msg})
}

// groupRef resolves logGroupName or logGroupIdentifier (a name or ARN).
func (s *Server) groupRefLocked(name, ident string) (*logGroup, *apiError) {
	if name != "" && ident != "" {
		return nil, logsInvalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
	}
	if ident != "" {
		name = strings.TrimSuffix(strings.TrimPrefix(ident, s.arn("logs", "log-group:")), ":*")
	}
	g := s.logs.groups[name]
	if g == nil {
		return nil, logsNotFound("The specified log group does not exist.")
	}
	return g, nil
}

func (s *Server) logsCreateLogGroup(in *logsCreateLogGroupRequest, _ *request) (any, *apiError) {
	if !logGroupNameRE().MatchString(in.LogGroupName) {
		return nil, logsInvalid("1 validation error detected: Value '%s' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+", in.LogGroupName)
	}
	if s.logs.groups[in.LogGroupName] != nil {
		return nil, newErr(400, "ResourceAlreadyExistsException", "The specified log group already exists")
	}
	g := s.createLogGroupLocked(in.LogGroupName)
	maps.Copy(g.tags, in.Tags)
	return nil, nil
}

func (s *Server) logsCreateLogStream(in *logsCreateLogStreamRequest, _ *request) (any, *apiError) {
	g := s.logs.groups[in.LogGroupName]
	if g == nil {
		return nil, logsNotFound("The specified log group does not exist.")
	}
	if !logStreamNameRE().MatchString(in.LogStreamName) {
		return nil, logsInvalid("1 validation error detected: Value '%s' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*", in.LogStreamName)
	}
	if g.streams[in.LogStreamName] != nil {
		return nil, newErr(400, "ResourceAlreadyExistsException", "The specified log stream already exists")
	}
	s.createLogStreamLocked(g, in.LogStreamName)
	return nil, nil
}

func (s *Server) logsDescribeLogGroups(in *logsDescribeLogGroupsRequest, _ *request) (any, *apiError) {
	limit := 50
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 50 {
			return nil, logsInvalid("limit must be between 1 and 50.")
		}
		limit = *in.Limit
	}
	var names []string
	for n := range s.logs.groups {
		if strings.HasPrefix(n, in.LogGroupNamePrefix) && strings.Contains(n, in.LogGroupNamePattern) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	items, next, ok := page(names, in.NextToken, limit, 50, 50)
	if !ok {
		return nil, logsInvalid("The specified nextToken is invalid.")
	}
	out := logsDescribeLogGroupsResponse{LogGroups: []logsLogGroup{}, NextToken: next}
	for _, n := range items {
		g := s.logs.groups[n]
		out.LogGroups = append(out.LogGroups, logsLogGroup{
			LogGroupName: n, CreationTime: new(g.created.UnixMilli()),
			Arn: s.logGroupArn(n) + ":*", LogGroupArn: s.logGroupArn(n),
			MetricFilterCount: new(0), StoredBytes: new(int64(0)), LogGroupClass: "STANDARD",
		})
	}
	return out, nil
}

func (s *Server) streamView(st *logStream) logsLogStream {
	v := logsLogStream{
		LogStreamName: st.name,
		CreationTime:  new(st.created.UnixMilli()),
		Arn:           s.logGroupArn(st.group.name) + ":log-stream:" + st.name,
		StoredBytes:   new(int64(0)),
	}
	if n := len(st.events); n > 0 {
		v.FirstEventTimestamp = new(st.events[0].ts)
		v.LastEventTimestamp = new(st.events[n-1].ts)
		v.LastIngestionTime = new(st.lastIngest)
		v.UploadSequenceToken = fmt.Sprintf("4963%052d", st.events[n-1].seq)
	}
	return v
}

func (s *Server) logsDescribeLogStreams(in *logsDescribeLogStreamsRequest, _ *request) (any, *apiError) {
	g, e := s.groupRefLocked(in.LogGroupName, in.LogGroupIdentifier)
	if e != nil {
		return nil, e
	}
	limit := 50
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 50 {
			return nil, logsInvalid("limit must be between 1 and 50.")
		}
		limit = *in.Limit
	}
	var streams []*logStream
	for _, st := range g.streams {
		if strings.HasPrefix(st.name, in.LogStreamNamePrefix) {
			streams = append(streams, st)
		}
	}
	switch in.OrderBy {
	case "", "LogStreamName":
		slices.SortFunc(streams, func(a, b *logStream) int { return strings.Compare(a.name, b.name) })
	case "LastEventTime":
		if in.LogStreamNamePrefix != "" {
			return nil, logsInvalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
		}
		last := func(st *logStream) int64 {
			if len(st.events) == 0 {
				return 0
			}
			return st.events[len(st.events)-1].ts
		}
		slices.SortStableFunc(streams, func(a, b *logStream) int {
			if c := int(last(a) - last(b)); c != 0 {
				return c
			}
			return strings.Compare(a.name, b.name)
		})
	default:
		return nil, logsInvalid("orderBy must be LogStreamName or LastEventTime.")
	}
	if in.Descending != nil && *in.Descending {
		slices.Reverse(streams)
	}
	items, next, ok := page(streams, in.NextToken, limit, 50, 50)
	if !ok {
		return nil, logsInvalid("The specified nextToken is invalid.")
	}
	out := logsDescribeLogStreamsResponse{LogStreams: []logsLogStream{}, NextToken: next}
	for _, st := range items {
		out.LogStreams = append(out.LogStreams, s.streamView(st))
	}
	return out, nil
}

func (s *Server) logsPutLogEvents(in *logsPutLogEventsRequest, _ *request) (any, *apiError) {
	g := s.logs.groups[in.LogGroupName]
	if g == nil {
		return nil, logsNotFound("The specified log group does not exist.")
	}
	st := g.streams[in.LogStreamName]
	if st == nil {
		return nil, logsNotFound("The specified log stream does not exist.")
	}
	if len(in.LogEvents) == 0 || len(in.LogEvents) > 10000 {
		return nil, logsInvalid("logEvents must contain between 1 and 10000 events.")
	}
	now := s.now().UnixMilli()
	var first, last int64
	rejected := logsRejectedLogEventsInfo{}
	size := 0
	for i, ev := range in.LogEvents {
		if ev.Timestamp == nil || ev.Message == "" {
			return nil, logsInvalid("Each log event needs a timestamp and a non-empty message.")
		}
		ts := *ev.Timestamp
		if i > 0 && ts < last {
			return nil, logsInvalid("Log events in a single PutLogEvents request must be in chronological order.")
		}
		if i == 0 {
			first = ts
		}
		last = ts
		size += len(ev.Message) + 26
	}
	if last-first > 24*3600*1000 {
		return nil, logsInvalid("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
	}
	if size > 1048576 {
		return nil, logsInvalid("Upload too large: %d bytes exceeds the maximum of 1048576.", size)
	}
	for i, ev := range in.LogEvents {
		ts := *ev.Timestamp
		switch {
		case ts < now-14*24*3600*1000:
			rejected.TooOldLogEventEndIndex = new(i)
		case ts > now+2*3600*1000:
			if rejected.TooNewLogEventStartIndex == nil {
				rejected.TooNewLogEventStartIndex = new(i)
			}
		default:
			s.logs.seq++
			st.append(logEvent{ts: ts, ingest: now, seq: s.logs.seq, msg: ev.Message})
		}
	}
	out := logsPutLogEventsResponse{NextSequenceToken: fmt.Sprintf("4963%052d", s.logs.seq)}
	if rejected != (logsRejectedLogEventsInfo{}) {
		out.RejectedLogEventsInfo = &rejected
	}
	return out, nil
}

// GetLogEvents tokens name a position between two events: forward tokens
// read the events after it, backward tokens those before. Reading past the
// end hands back the token it was given, which is how callers know they
// have caught up.
func logToken(dir byte, k logKey) string {
	return fmt.Sprintf("%c/%019d%019d%018d/s", dir, k.ts+1, k.seq+1, 0)
}

var logTokenRE = lazyregexp.New(`^([fb])/(\d{19})(\d{19})(\d{18})/s$`)

func parseLogToken(tok string) (byte, logKey, bool) {
	m := logTokenRE().FindStringSubmatch(tok)
	if m == nil {
		return 0, logKey{}, false
	}
	ts, _ := strconv.ParseInt(m[2], 10, 64)
	seq, _ := strconv.ParseInt(m[3], 10, 64)
	return m[1][0], logKey{ts - 1, seq - 1}, true
}

func (s *Server) logsGetLogEvents(in *logsGetLogEventsRequest, _ *request) (any, *apiError) {
	g, e := s.groupRefLocked(in.LogGroupName, in.LogGroupIdentifier)
	if e != nil {
		return nil, e
	}
	st := g.streams[in.LogStreamName]
	if st == nil {
		return nil, logsNotFound("The specified log stream does not exist.")
	}
	limit := 10000
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 10000 {
			return nil, logsInvalid("limit must be between 1 and 10000.")
		}
		limit = *in.Limit
	}
	var evs []logEvent
	for _, ev := range st.events {
		if in.StartTime != nil && ev.ts < *in.StartTime || in.EndTime != nil && ev.ts >= *in.EndTime {
			continue
		}
		evs = append(evs, ev)
	}
	start := logKey{-1, -1}
	var sel []logEvent
	var fwd, back string
	switch {
	case in.NextToken != "":
		dir, k, ok := parseLogToken(in.NextToken)
		if !ok {
			return nil, logsInvalid("The specified nextToken is invalid.")
		}
		if dir == 'f' {
			i := slices.IndexFunc(evs, func(ev logEvent) bool { return k.less(ev.key()) })
			if i >= 0 {
				sel = evs[i:min(i+limit, len(evs))]
			}
			fwd, back = in.NextToken, logToken('b', logKey{k.ts, k.seq + 1})
		} else {
			i := slices.IndexFunc(evs, func(ev logEvent) bool { return !ev.key().less(k) })
			if i < 0 {
				i = len(evs)
			}
			sel = evs[max(0, i-limit):i]
			fwd, back = logToken('f', logKey{k.ts, k.seq - 1}), in.NextToken
		}
	case in.StartFromHead != nil && *in.StartFromHead:
		sel = evs[:min(limit, len(evs))]
		fwd, back = logToken('f', start), logToken('b', logKey{start.ts, start.seq + 1})
	default:
		sel = evs[max(0, len(evs)-limit):]
		fwd, back = logToken('f', start), logToken('b', logKey{start.ts, start.seq + 1})
	}
	out := logsGetLogEventsResponse{Events: []logsOutputLogEvent{}}
	for _, ev := range sel {
		out.Events = append(out.Events, logsOutputLogEvent{Timestamp: new(ev.ts), IngestionTime: new(ev.ingest), Message: ev.msg})
	}
	if n := len(sel); n > 0 {
		fwd = logToken('f', sel[n-1].key())
		back = logToken('b', sel[0].key())
	}
	out.NextForwardToken, out.NextBackwardToken = fwd, back
	return out, nil
}

func (s *Server) logsFilterLogEvents(in *logsFilterLogEventsRequest, _ *request) (any, *apiError) {
	g, e := s.groupRefLocked(in.LogGroupName, in.LogGroupIdentifier)
	if e != nil {
		return nil, e
	}
	if len(in.LogStreamNames) > 0 && in.LogStreamNamePrefix != "" {
		return nil, logsInvalid("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
	}
	if len(in.LogStreamNames) > 100 {
		return nil, logsInvalid("logStreamNames can name at most 100 streams.")
	}
	limit := 10000
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 10000 {
			return nil, logsInvalid("limit must be between 1 and 10000.")
		}
		limit = *in.Limit
	}
	after := logKey{-1, -1}
	if in.NextToken != "" {
		dir, k, ok := parseLogToken(in.NextToken)
		if !ok || dir != 'f' {
			return nil, logsInvalid("The specified nextToken is invalid.")
		}
		after = k
	}
	match := compileFilterPattern(in.FilterPattern)
	type hit struct {
		ev     logEvent
		stream string
	}
	var hits []hit
	for _, st := range g.streams {
		if len(in.LogStreamNames) > 0 && !slices.Contains(in.LogStreamNames, st.name) ||
			!strings.HasPrefix(st.name, in.LogStreamNamePrefix) {
			continue
		}
		for _, ev := range st.events {
			if in.StartTime != nil && ev.ts < *in.StartTime || in.EndTime != nil && ev.ts > *in.EndTime {
				continue
			}
			if after.less(ev.key()) && match(ev.msg) {
				hits = append(hits, hit{ev, st.name})
			}
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if a.ev.key().less(b.ev.key()) {
			return -1
		}
		return 1
	})
	out := logsFilterLogEventsResponse{Events: []logsFilteredLogEvent{}}
	if len(hits) > limit {
		out.NextToken = logToken('f', hits[limit-1].ev.key())
		hits = hits[:limit]
	}
	for _, h := range hits {
		out.Events = append(out.Events, logsFilteredLogEvent{
			LogStreamName: h.stream, Timestamp: new(h.ev.ts), IngestionTime: new(h.ev.ingest),
			Message: h.ev.msg, EventId: fmt.Sprintf("%056d", h.ev.seq),
		})
	}
	return out, nil
}

// compileFilterPattern understands the term-matching subset of the
// CloudWatch Logs filter syntax: space-separated terms that must all occur
// ("quoted phrases" allowed), -term that must not, and ?term alternatives.
func compileFilterPattern(p string) func(string) bool {
	p = strings.TrimSpace(p)
	if p == "" {
		return func(string) bool { return true }
	}
	var all, none, any []string
	for _, tok := range splitTerms(p) {
		switch {
		case strings.HasPrefix(tok, "-"):
			none = append(none, strings.Trim(tok[1:], `"`))
		case strings.HasPrefix(tok, "?"):
			any = append(any, strings.Trim(tok[1:], `"`))
		default:
			all = append(all, strings.Trim(tok, `"`))
		}
	}
	return func(msg string) bool {
		for _, t := range all {
			if !strings.Contains(msg, t) {
				return false
			}
		}
		for _, t := range none {
			if strings.Contains(msg, t) {
				return false
			}
		}
		if len(any) > 0 {
			return slices.ContainsFunc(any, func(t string) bool { return strings.Contains(msg, t) })
		}
		return true
	}
}

func splitTerms(p string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range p {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// openTaskLogsLocked creates the awslogs streams of a starting task, as the
// awslogs driver does. It reports false when a log group is missing and
// the task may not create it, which makes the task fail to start.
func (s *Server) openTaskLogsLocked(t *task, at time.Time) bool {
	var target *logStream
	for _, c := range t.containers {
		lc := c.def.LogConfiguration
		if lc == nil || lc.LogDriver != "awslogs" {
			continue
		}
		g := s.logs.groups[lc.Options["awslogs-group"]]
		if g == nil {
			if lc.Options["awslogs-create-group"] != "true" {
				return false
			}
			g = s.createLogGroupLocked(lc.Options["awslogs-group"])
		}
		name := t.id
		if p := lc.Options["awslogs-stream-prefix"]; p != "" {
			name = p + "/" + c.name + "/" + t.id
		}
		st := g.streams[name]
		if st == nil {
			st = s.createLogStreamLocked(g, name)
		}
		if target == nil || c.essential && !t.logTargetEssential {
			target, t.logTargetEssential = st, c.essential
		}
	}
	t.logTarget = target
	return true
}

func (s *Server) writeTaskLogLocked(t *task, at time.Time, line string) {
	if t.logTarget != nil {
		s.putLogLocked(t.logTarget, at, line)
	}
}
