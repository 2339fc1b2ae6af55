package awsfake

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

func sqsService() *service {
	return &service{name: "sqs", wire: wireJSON10, target: "AmazonSQS", ops: map[string]op{
		"CreateQueue":             jsonOp((*Server).sqsCreateQueue),
		"GetQueueUrl":             jsonOp((*Server).sqsGetQueueUrl),
		"GetQueueAttributes":      jsonOp((*Server).sqsGetQueueAttributes),
		"SetQueueAttributes":      jsonOp((*Server).sqsSetQueueAttributes),
		"DeleteQueue":             jsonOp((*Server).sqsDeleteQueue),
		"PurgeQueue":              jsonOp((*Server).sqsPurgeQueue),
		"ListQueues":              jsonOp((*Server).sqsListQueues),
		"SendMessage":             jsonOp((*Server).sqsSendMessage),
		"ReceiveMessage":          {run: (*Server).sqsReceiveMessage, unlocked: true},
		"DeleteMessage":           jsonOp((*Server).sqsDeleteMessage),
		"DeleteMessageBatch":      jsonOp((*Server).sqsDeleteMessageBatch),
		"ChangeMessageVisibility": jsonOp((*Server).sqsChangeMessageVisibility),
	}}
}

type sqsState struct {
	byName map[string]*queue
}

func (q *sqsState) init() { q.byName = map[string]*queue{} }

type queue struct {
	name              string
	created, modified time.Time
	attrs             map[string]string // as set by the user
	visibility        int
	retention         int
	delay             int
	wait              int
	maxSize           int
	dlq               string // name of the dead-letter queue
	maxReceive        int
	msgs              []*message // in send order
	handles           map[string]*message
	retired           map[string]bool // handles superseded by a later receive
	purgedAt          time.Time
}

type message struct {
	id, body, md5   string
	attrs           map[string]sqsMessageAttributeValue
	sent, visibleAt time.Time
	firstReceive    time.Time
	receiveCount    int
	handle          string
	sender          string
}

var queueDefaults = map[string]string{
	"VisibilityTimeout":             "30",
	"MessageRetentionPeriod":        "345600",
	"DelaySeconds":                  "0",
	"ReceiveMessageWaitTimeSeconds": "0",
	"MaximumMessageSize":            "262144",
	"SqsManagedSseEnabled":          "true",
}

var settableQueueAttrs = []string{"DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "Policy",
	"ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "RedrivePolicy", "RedriveAllowPolicy",
	"KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled", "FifoQueue",
	"ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}

var queueNameRE = lazyregexp.New(`^[A-Za-z0-9_-]{1,80}$`)

func sqsErr(code, queryCode, format string, args ...any) *apiError {
	e := newErr(400, code, format, args...)
	e.queryCode = queryCode
	return e
}

func sqsInvalid(format string, args ...any) *apiError {
	return sqsErr("com.amazon.coral.validate#ValidationException", "InvalidParameterValue", format, args...)
}

func noSuchQueue() *apiError {
	return sqsErr("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
}

func (s *Server) queueURL(name string) string {
	return s.base + "/" + s.opts.AccountID + "/" + name
}

func (s *Server) queueLocked(url string) (*queue, *apiError) {
	if url == "" {
		return nil, sqsInvalid("Value for parameter QueueUrl is invalid. Reason: QueueUrl is required.")
	}
	q := s.sqs.byName[url[strings.LastIndex(url, "/")+1:]]
	if q == nil {
		return nil, noSuchQueue()
	}
	return q, nil
}

func (s *Server) newQueueLocked(name string, attrs map[string]string) *queue {
	now := s.now()
	q := &queue{name: name, created: now, modified: now, attrs: map[string]string{}, handles: map[string]*message{}, retired: map[string]bool{}}
	for k, v := range attrs {
		q.attrs[k] = v
	}
	s.applyQueueAttrs(q)
	s.sqs.byName[name] = q
	return q
}

func (s *Server) applyQueueAttrs(q *queue) {
	num := func(k string) int {
		v := q.attrs[k]
		if v == "" {
			v = queueDefaults[k]
		}
		n, _ := strconv.Atoi(v)
		return n
	}
	q.visibility, q.retention, q.delay = num("VisibilityTimeout"), num("MessageRetentionPeriod"), num("DelaySeconds")
	q.wait, q.maxSize = num("ReceiveMessageWaitTimeSeconds"), num("MaximumMessageSize")
	q.dlq, q.maxReceive = "", 0
	if rp := q.attrs["RedrivePolicy"]; rp != "" {
		q.dlq, q.maxReceive, _ = parseRedrive(rp)
	}
}

// parseRedrive reads a RedrivePolicy, whose maxReceiveCount SQS accepts as
// a number or a string.
func parseRedrive(v string) (dlq string, max int, ok bool) {
	var rp struct {
		Target string          `json:"deadLetterTargetArn"`
		Max    json.RawMessage `json:"maxReceiveCount"`
	}
	if json.Unmarshal([]byte(v), &rp) != nil || rp.Target == "" {
		return "", 0, false
	}
	n, err := strconv.Atoi(strings.Trim(string(rp.Max), `"`))
	if err != nil {
		return "", 0, false
	}
	return rp.Target[strings.LastIndex(rp.Target, ":")+1:], n, true
}

func (s *Server) checkQueueAttrs(attrs map[string]string) *apiError {
	bounds := map[string][2]int{
		"VisibilityTimeout":             {0, 43200},
		"MessageRetentionPeriod":        {60, 1209600},
		"DelaySeconds":                  {0, 900},
		"ReceiveMessageWaitTimeSeconds": {0, 20},
		"MaximumMessageSize":            {1024, 262144},
	}
	for k, v := range attrs {
		if !slices.Contains(settableQueueAttrs, k) {
			return sqsErr("InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute %s.", k)
		}
		if b, ok := bounds[k]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < b[0] || n > b[1] {
				return sqsErr("InvalidAttributeValue", "InvalidAttributeValue", "Invalid value for the parameter %s.", k)
			}
		}
		if k == "FifoQueue" && v == "true" {
			return sqsErr("InvalidAttributeValue", "InvalidAttributeValue", "The fake models standard queues only; FifoQueue is not supported.")
		}
		if k == "RedrivePolicy" && v != "" {
			dlq, max, ok := parseRedrive(v)
			if !ok || max < 1 || max > 1000 {
				return sqsErr("InvalidAttributeValue", "InvalidAttributeValue", "Value %s for parameter RedrivePolicy is invalid. Reason: Redrive policy is not a valid JSON map or maxReceiveCount is not between 1 and 1000.", v)
			}
			if s.sqs.byName[dlq] == nil {
				return sqsErr("InvalidAttributeValue", "InvalidAttributeValue", "Value %s for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.", v)
			}
		}
	}
	return nil
}

func (s *Server) sqsCreateQueue(in *sqsCreateQueueRequest, _ *request) (any, *apiError) {
	if strings.HasSuffix(in.QueueName, ".fifo") {
		return nil, sqsErr("InvalidAttributeValue", "InvalidAttributeValue", "The fake models standard queues only; FIFO queues are not supported.")
	}
	if !queueNameRE().MatchString(in.QueueName) {
		return nil, sqsInvalid("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	if e := s.checkQueueAttrs(in.Attributes); e != nil {
		return nil, e
	}
	if q := s.sqs.byName[in.QueueName]; q != nil {
		for k, v := range in.Attributes {
			have := q.attrs[k]
			if have == "" {
				have = queueDefaults[k]
			}
			if have != v {
				return nil, sqsErr("QueueNameExists", "QueueAlreadyExists", "A queue already exists with the same name and a different value for attribute %s", k)
			}
		}
		return sqsCreateQueueResult{QueueUrl: s.queueURL(q.name)}, nil
	}
	q := s.newQueueLocked(in.QueueName, in.Attributes)
	return sqsCreateQueueResult{QueueUrl: s.queueURL(q.name)}, nil
}

func (s *Server) sqsGetQueueUrl(in *sqsGetQueueUrlRequest, _ *request) (any, *apiError) {
	q := s.sqs.byName[in.QueueName]
	if q == nil || in.QueueOwnerAWSAccountId != "" && in.QueueOwnerAWSAccountId != s.opts.AccountID {
		return nil, noSuchQueue()
	}
	return sqsGetQueueUrlResult{QueueUrl: s.queueURL(q.name)}, nil
}

func (s *Server) sqsGetQueueAttributes(in *sqsGetQueueAttributesRequest, _ *request) (any, *apiError) {
	q, e := s.queueLocked(in.QueueUrl)
	if e != nil {
		return nil, e
	}
	now := s.now()
	s.expireLocked(q, now)
	visible, inflight, delayed := 0, 0, 0
	for _, m := range q.msgs {
		switch {
		case m.receiveCount > 0 && m.visibleAt.After(now):
			inflight++
		case m.visibleAt.After(now):
			delayed++
		default:
			visible++
		}
	}
	all := map[string]string{
		"ApproximateNumberOfMessages":           strconv.Itoa(visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(inflight),
		"ApproximateNumberOfMessagesDelayed":    strconv.Itoa(delayed),
		"CreatedTimestamp":                      strconv.FormatInt(q.created.Unix(), 10),
		"LastModifiedTimestamp":                 strconv.FormatInt(q.modified.Unix(), 10),
		"QueueArn":                              s.arn("sqs", q.name),
	}
	for k, v := range queueDefaults {
		all[k] = v
	}
	for k, v := range q.attrs {
		all[k] = v
	}
	out := map[string]string{}
	for _, n := range in.AttributeNames {
		if n == "All" {
			out = all
			break
		}
		v, ok := all[n]
		if !ok && !slices.Contains(settableQueueAttrs, n) {
			return nil, sqsErr("InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute %s.", n)
		}
		if ok {
			out[n] = v
		}
	}
	return sqsGetQueueAttributesResult{Attributes: out}, nil
}

func (s *Server) sqsSetQueueAttributes(in *sqsSetQueueAttributesRequest, _ *request) (any, *apiError) {
	q, e := s.queueLocked(in.QueueUrl)
	if e != nil {
		return nil, e
	}
	if e := s.checkQueueAttrs(in.Attributes); e != nil {
		return nil, e
	}
	for k, v := range in.Attributes {
		q.attrs[k] = v
	}
	q.modified = s.now()
	s.applyQueueAttrs(q)
	return nil, nil
}

func (s *Server) sqsDeleteQueue(in *sqsDeleteQueueRequest, _ *request) (any, *apiError) {
	q, e := s.queueLocked(in.QueueUrl)
	if e != nil {
		return nil, e
	}
	delete(s.sqs.byName, q.name)
	s.broadcastLocked()
	return nil, nil
}

func (s *Server) sqsPurgeQueue(in *sqsPurgeQueueRequest, _ *request) (any, *apiError) {
	q, e := s.queueLocked(in.QueueUrl)
	if e != nil {
		return nil, e
	}
	now := s.now()
	if !q.purgedAt.IsZero() && now.Sub(q.purgedAt) < time.Minute {
		return nil, sqsErr("PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", "Only one PurgeQueue operation on %s is allowed every 60 seconds.", q.name)
	}
	q.purgedAt = now
	q.msgs = nil
	q.handles = map[string]*message{}
	return nil, nil
}

func (s *Server) sqsListQueues(in *sqsListQueuesRequest, _ *request) (any, *apiError) {
	var names []string
	for n := range s.sqs.byName {
		if strings.HasPrefix(n, in.QueueNamePrefix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	max := 1000
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 1000 {
			return nil, sqsInvalid("Value %d for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.", *in.MaxResults)
		}
		max = *in.MaxResults
	}
	items, next, ok := page(names, in.NextToken, max, 1000, 1000)
	if !ok {
		return nil, sqsInvalid("Invalid NextToken value.")
	}
	if in.MaxResults == nil {
		next = ""
	}
	out := sqsListQueuesResult{NextToken: next}
	for _, n := range items {
		out.QueueUrls = append(out.QueueUrls, s.queueURL(n))
	}
	return out, nil
}

func validMessageBody(b string) bool {
	if !utf8.ValidString(b) {
		return false
	}
	for _, r := range b {
		if !(r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) { //nolint:staticcheck // QF1001: XML's Char production, as written in the spec
			return false
		}
	}
	return true
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// md5OfAttributes is SQS's digest of message attributes: names in order,
// each length-prefixed with its type and a transport byte.
func md5OfAttributes(attrs map[string]sqsMessageAttributeValue) string {
	if len(attrs) == 0 {
		return ""
	}
	h := md5.New()
	put := func(b []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		v := attrs[n]
		put([]byte(n))
		put([]byte(v.DataType))
		if v.BinaryValue != nil {
			h.Write([]byte{2})
			put(v.BinaryValue)
		} else {
			h.Write([]byte{1})
			put([]byte(v.StringValue))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Server) sqsSendMessage(in *sqsSendMessageRequest, r *request) (any, *apiError) {
	q, e := s.queueLocked(in.QueueUrl)
	if e != nil {
		return nil, e
	}
	if in.MessageBody == "" {
		return nil, sqsErr("MissingParameter", "MissingParameter", "The request must contain the parameter MessageBody.")
	}
	if !validMessageBody(in.MessageBody) {
		return nil, sqsErr("InvalidMessageContents", "InvalidMessageContents", "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
	}
	if len(in.MessageBody) > q.maxSize {
		return nil, sqsInvalid("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", q.maxSize)
	}
	delay := q.delay
	if in.DelaySeconds != nil {
		if *in.DelaySeconds < 0 || *in.DelaySeconds > 900 {
			return nil, sqsInvalid("Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", *in.DelaySeconds)
		}
		delay = *in.DelaySeconds
	}
	if len(in.MessageAttributes) > 10 {
		return nil, sqsInvalid("Number of message attributes [%d] exceeds the allowed maximum [10].", len(in.MessageAttributes))
	}
	for n, v := range in.MessageAttributes {
		if v.DataType == "" || (v.StringValue == "" && v.BinaryValue == nil) {
			return nil, sqsInvalid("The message attribute '%s' must contain a non-empty value of type '%s'.", n, v.DataType)
		}
	}
	m := s.enqueueLocked(q, in.MessageBody, in.MessageAttributes, time.Duration(delay)*time.Second)
	m.sender = r.akid
	return sqsSendMessageResult{MessageId: m.id, MD5OfMessageBody: m.md5, MD5OfMessageAttributes: md5OfAttributes(m.attrs)}, nil
}

func (s *Server) enqueueLocked(q *queue, body string, attrs map[string]sqsMessageAttributeValue, delay time.Duration) *message {
	now := s.now()
	m := &message{id: s.newUUIDLocked(), body: body, md5: md5Hex(body), attrs: attrs, sent: now, visibleAt: now.Add(delay), sender: s.opts.AccountID}
	q.msgs = append(q.msgs, m)
	s.broadcastLocked()
	return m
}

func (s *Server) expireLocked(q *queue, now time.Time) {
	q.msgs = slices.DeleteFunc(q.msgs, func(m *message) bool {
		gone := now.Sub(m.sent) > time.Duration(q.retention)*time.Second
		if gone && m.handle != "" {
			delete(q.handles, m.handle)
		}
		return gone
	})
}

// receiveLocked hands out up to max visible messages, moving those
// received too often to the dead-letter queue instead, as a redrive policy
// does.
func (s *Server) receiveLocked(q *queue, in *sqsReceiveMessageRequest, max, vis int, now time.Time) []sqsMessage {
	s.expireLocked(q, now)
	var out []sqsMessage
	for i := 0; i < len(q.msgs) && len(out) < max; i++ {
		m := q.msgs[i]
		if m.visibleAt.After(now) {
			continue
		}
		if q.maxReceive > 0 && m.receiveCount >= q.maxReceive {
			if dlq := s.sqs.byName[q.dlq]; dlq != nil {
				q.msgs = slices.Delete(q.msgs, i, i+1)
				i--
				delete(q.handles, m.handle)
				m.handle, m.receiveCount, m.firstReceive, m.visibleAt = "", 0, time.Time{}, now
				dlq.msgs = append(dlq.msgs, m)
				s.broadcastLocked()
				continue
			}
		}
		m.receiveCount++
		if m.firstReceive.IsZero() {
			m.firstReceive = now
		}
		m.visibleAt = now.Add(time.Duration(vis) * time.Second)
		if m.handle != "" {
			delete(q.handles, m.handle)
			q.retired[m.handle] = true
		}
		m.handle = "AQEB" + s.newIDLocked(48) + "=="
		q.handles[m.handle] = m
		out = append(out, s.messageView(m, in))
	}
	return out
}

func (s *Server) messageView(m *message, in *sqsReceiveMessageRequest) sqsMessage {
	v := sqsMessage{MessageId: m.id, ReceiptHandle: m.handle, MD5OfBody: m.md5, Body: m.body}
	names := append(slices.Clone(in.AttributeNames), in.MessageSystemAttributeNames...)
	sys := map[string]string{
		"ApproximateReceiveCount":          strconv.Itoa(m.receiveCount),
		"SentTimestamp":                    strconv.FormatInt(m.sent.UnixMilli(), 10),
		"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstReceive.UnixMilli(), 10),
		"SenderId":                         m.sender,
	}
	for _, n := range names {
		if n == "All" {
			v.Attributes = sys
			break
		}
		if val, ok := sys[n]; ok {
			if v.Attributes == nil {
				v.Attributes = map[string]string{}
			}
			v.Attributes[n] = val
		}
	}
	for name, val := range m.attrs {
		for _, want := range in.MessageAttributeNames {
			if want == "All" || want == ".*" || want == name || strings.HasSuffix(want, ".*") && strings.HasPrefix(name, strings.TrimSuffix(want, "*")) {
				if v.MessageAttributes == nil {
					v.MessageAttributes = map[string]sqsMessageAttributeValue{}
				}
				v.MessageAttributes[name] = val
				break
			}
		}
	}
	v.MD5OfMessageAttributes = md5OfAttributes(v.MessageAttributes)
	return v
}

// sqsReceiveMessage long-polls without holding the lock: it re-checks the
// queue whenever the server's state changes or a message's visibility
// timeout or delay ends, until WaitTimeSeconds have passed on the clock.
func (s *Server) sqsReceiveMessage(r *request) (any, *apiError) {
	var in sqsReceiveMessageRequest
	if e := decodeStrict(r.body, &in); e != nil {
		return nil, e
	}
	max := 1
	if in.MaxNumberOfMessages != nil {
		max = *in.MaxNumberOfMessages
		if max < 1 || max > 10 {
			return nil, sqsInvalid("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", max)
		}
	}
	if in.WaitTimeSeconds != nil && (*in.WaitTimeSeconds < 0 || *in.WaitTimeSeconds > 20) {
		return nil, sqsInvalid("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", *in.WaitTimeSeconds)
	}
	if in.VisibilityTimeout != nil && (*in.VisibilityTimeout < 0 || *in.VisibilityTimeout > 43200) {
		return nil, sqsInvalid("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.", *in.VisibilityTimeout)
	}
	s.mu.Lock()
	q, e := s.queueLocked(in.QueueUrl)
	if e != nil {
		s.mu.Unlock()
		return nil, e
	}
	wait := q.wait
	if in.WaitTimeSeconds != nil {
		wait = *in.WaitTimeSeconds
	}
	deadline := s.now().Add(time.Duration(wait) * time.Second)
	s.mu.Unlock()

	for {
		s.mu.Lock()
		s.advanceLocked()
		q, e := s.queueLocked(in.QueueUrl)
		if e != nil {
			s.mu.Unlock()
			return nil, e
		}
		vis := q.visibility
		if in.VisibilityTimeout != nil {
			vis = *in.VisibilityTimeout
		}
		now := s.now()
		msgs := s.receiveLocked(q, &in, max, vis, now)
		if len(msgs) > 0 || !now.Before(deadline) {
			s.mu.Unlock()
			return sqsReceiveMessageResult{Messages: msgs}, nil
		}
		wake := deadline
		for _, m := range q.msgs {
			if m.visibleAt.After(now) && m.visibleAt.Before(wake) {
				wake = m.visibleAt
			}
		}
		changed := s.changed
		s.mu.Unlock()

		t := time.NewTimer(wake.Sub(now))
		select {
		case <-changed:
		case <-t.C:
		case <-r.http.Context().Done():
			t.Stop()
			return nil, newErr(400, "RequestCanceled", "the client went away")
		case <-s.closed:
			t.Stop()
			return sqsReceiveMessageResult{}, nil
		}
		t.Stop()
	}
}

func validHandle(h string) bool {
	return strings.HasPrefix(h, "AQEB") && strings.HasSuffix(h, "==") && len(h) == 54
}

func (s *Server) sqsDeleteMessage(in *sqsDeleteMessageRequest, _ *request) (any, *apiError) {
	q, e := s.queueLocked(in.QueueUrl)
	if e != nil {
		return nil, e
	}
	return nil, s.deleteMessageLocked(q, in.ReceiptHandle)
}

func (s *Server) deleteMessageLocked(q *queue, handle string) *apiError {
	if !validHandle(handle) {
		return sqsErr("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", "The input receipt handle \"%s\" is not a valid receipt handle.", handle)
	}
	// A handle that is well formed but stale (the message was received
	// again, or is gone) deletes nothing and succeeds, as in SQS.
	if m := q.handles[handle]; m != nil {
		delete(q.handles, handle)
		q.retired[handle] = true
		q.msgs = slices.DeleteFunc(q.msgs, func(x *message) bool { return x == m })
	}
	return nil
}

var batchIDRE = lazyregexp.New(`^[A-Za-z0-9_-]{1,80}$`)

func (s *Server) sqsDeleteMessageBatch(in *sqsDeleteMessageBatchRequest, _ *request) (any, *apiError) {
	q, e := s.queueLocked(in.QueueUrl)
	if e != nil {
		return nil, e
	}
	if len(in.Entries) == 0 {
		return nil, sqsErr("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", "There should be at least one DeleteMessageBatchRequestEntry in the request.")
	}
	if len(in.Entries) > 10 {
		return nil, sqsErr("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "Maximum number of entries per request are 10. You have sent %d.", len(in.Entries))
	}
	seen := map[string]bool{}
	for _, en := range in.Entries {
		if !batchIDRE().MatchString(en.Id) {
			return nil, sqsErr("InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if seen[en.Id] {
			return nil, sqsErr("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id %s repeated.", en.Id)
		}
		seen[en.Id] = true
	}
	out := sqsDeleteMessageBatchResult{Successful: []sqsDeleteMessageBatchResultEntry{}, Failed: []sqsBatchResultErrorEntry{}}
	for _, en := range in.Entries {
		if e := s.deleteMessageLocked(q, en.ReceiptHandle); e != nil {
			out.Failed = append(out.Failed, sqsBatchResultErrorEntry{Id: en.Id, Code: "ReceiptHandleIsInvalid", Message: e.message, SenderFault: new(true)})
			continue
		}
		out.Successful = append(out.Successful, sqsDeleteMessageBatchResultEntry{Id: en.Id})
	}
	return out, nil
}

func (s *Server) sqsChangeMessageVisibility(in *sqsChangeMessageVisibilityRequest, _ *request) (any, *apiError) {
	q, e := s.queueLocked(in.QueueUrl)
	if e != nil {
		return nil, e
	}
	if in.VisibilityTimeout == nil || *in.VisibilityTimeout < 0 || *in.VisibilityTimeout > 43200 {
		return nil, sqsInvalid("Value for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.")
	}
	if !validHandle(in.ReceiptHandle) {
		return nil, sqsErr("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", "The input receipt handle \"%s\" is not a valid receipt handle.", in.ReceiptHandle)
	}
	now := s.now()
	m := q.handles[in.ReceiptHandle]
	if m == nil && q.retired[in.ReceiptHandle] {
		// The message was received again, or deleted, since.
		return nil, sqsInvalid("Value %s for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.", in.ReceiptHandle)
	}
	if m == nil || !m.visibleAt.After(now) {
		return nil, sqsErr("MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", "Message does not exist or is not available for visibility timeout change.")
	}
	m.visibleAt = now.Add(time.Duration(*in.VisibilityTimeout) * time.Second)
	s.broadcastLocked()
	return nil, nil
}
