package awsfake

import "slices"

// RemoveOperation makes the server answer service's action as an endpoint
// that does not implement it answers (awsJson: 400
// UnknownOperationException; EC2 and query services: 400 InvalidAction),
// as an ECS-compatible endpoint lacking, say, ListTaskDefinitions would.
// Such calls still count in Calls and CallLog.
func (s *Server) RemoveOperation(service, action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed == nil {
		s.removed = map[string]bool{}
	}
	s.removed[service+":"+action] = true
}

// RestoreOperations undoes every RemoveOperation.
func (s *Server) RestoreOperations() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removed = nil
}

// Call is one request as the server received it: its "service:Action",
// the access key that signed it and the caller that key stands for (an
// assumed-role session maps to arn:aws:sts::ACCOUNT:assumed-role/ROLE/
// SESSION), so that a test can tell which session made each call.
type Call struct {
	Key, AccessKeyID, Caller string
}

// CallLog lists every signed request for a known service, in the order
// the server received them, refused ones included.
func (s *Server) CallLog() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.callLog)
}
