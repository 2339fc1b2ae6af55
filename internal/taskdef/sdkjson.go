package taskdef

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/document"
	smithytime "github.com/aws/smithy-go/time"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// sdkToJSON turns an SDK value (a *types.TaskDefinition, an output struct)
// into the JSON the ECS API speaks, keys named and ordered as on the wire.
// It drives the SDK's own schema-based serializer, so member names, unions
// and timestamps come out exactly as AWS writes them.
func sdkToJSON(v smithy.Serializable) any {
	s := &jsonvSerializer{}
	v.Serialize(s)
	return s.root
}

// sdkObject is sdkToJSON for values that serialize as an object.
func sdkObject(v smithy.Serializable) *jsonv.Object {
	o, _ := sdkToJSON(v).(*jsonv.Object)
	return o
}

// jsonvSerializer is a smithy.ShapeSerializer that builds jsonv values.
type jsonvSerializer struct {
	root  any
	stack []*jsonvFrame
}

type jsonvFrame struct {
	obj    *jsonv.Object // objects, maps and unions
	list   []any
	isList bool
	// key is where the container goes in its parent; pending is a map key
	// or union member name for the next value written into this frame.
	key, pending string
	hasPending   bool
}

var _ smithy.ShapeSerializer = (*jsonvSerializer)(nil)

// keyFor decides the key of the next value in the current container.
func (s *jsonvSerializer) keyFor(schema *smithy.Schema) string {
	if len(s.stack) == 0 {
		return ""
	}
	top := s.stack[len(s.stack)-1]
	if top.hasPending {
		top.hasPending = false
		return top.pending
	}
	if schema == nil {
		return ""
	}
	return schema.MemberName()
}

func (s *jsonvSerializer) put(key string, v any) {
	if len(s.stack) == 0 {
		s.root = v
		return
	}
	top := s.stack[len(s.stack)-1]
	if top.isList {
		top.list = append(top.list, v)
		return
	}
	top.obj.Set(key, v)
}

func (s *jsonvSerializer) value(schema *smithy.Schema, v any) { s.put(s.keyFor(schema), v) }

func (s *jsonvSerializer) open(schema *smithy.Schema, list bool) {
	f := &jsonvFrame{key: s.keyFor(schema), isList: list}
	if list {
		f.list = []any{}
	} else {
		f.obj = jsonv.NewObject()
	}
	s.stack = append(s.stack, f)
}

func (s *jsonvSerializer) close() {
	f := s.stack[len(s.stack)-1]
	s.stack = s.stack[:len(s.stack)-1]
	if f.isList {
		s.put(f.key, f.list)
	} else {
		s.put(f.key, f.obj)
	}
}

func (s *jsonvSerializer) Bytes() []byte {
	b, _ := jsonv.Marshal(s.root)
	return b
}

func (s *jsonvSerializer) WriteInt8(sc *smithy.Schema, v int8) { s.value(sc, intNumber(int64(v))) }
func (s *jsonvSerializer) WriteInt16(sc *smithy.Schema, v int16) {
	s.value(sc, intNumber(int64(v)))
}
func (s *jsonvSerializer) WriteInt32(sc *smithy.Schema, v int32) {
	s.value(sc, intNumber(int64(v)))
}
func (s *jsonvSerializer) WriteInt64(sc *smithy.Schema, v int64) { s.value(sc, intNumber(v)) }
func (s *jsonvSerializer) WriteFloat32(sc *smithy.Schema, v float32) {
	s.value(sc, floatNumber(float64(v), 32))
}
func (s *jsonvSerializer) WriteFloat64(sc *smithy.Schema, v float64) {
	s.value(sc, floatNumber(v, 64))
}
func (s *jsonvSerializer) WriteBool(sc *smithy.Schema, v bool)     { s.value(sc, v) }
func (s *jsonvSerializer) WriteString(sc *smithy.Schema, v string) { s.value(sc, v) }
func (s *jsonvSerializer) WriteBigInt(sc *smithy.Schema, v *big.Int) {
	s.value(sc, json.Number(v.String()))
}
func (s *jsonvSerializer) WriteBigFloat(sc *smithy.Schema, v *big.Float) {
	s.value(sc, json.Number(v.Text('g', -1)))
}
func (s *jsonvSerializer) WriteBlob(sc *smithy.Schema, v []byte) {
	s.value(sc, base64.StdEncoding.EncodeToString(v))
}
func (s *jsonvSerializer) WriteTime(sc *smithy.Schema, v time.Time) {
	s.value(sc, floatNumber(smithytime.FormatEpochSeconds(v), 64))
}
func (s *jsonvSerializer) WriteNil(sc *smithy.Schema) { s.value(sc, nil) }

func (s *jsonvSerializer) WriteUnion(schema, variant *smithy.Schema) {
	s.open(schema, false)
	top := s.stack[len(s.stack)-1]
	top.pending, top.hasPending = variant.MemberName(), true
}
func (s *jsonvSerializer) CloseUnion()                   { s.close() }
func (s *jsonvSerializer) WriteStruct(sc *smithy.Schema) { s.open(sc, false) }
func (s *jsonvSerializer) CloseStruct()                  { s.close() }
func (s *jsonvSerializer) WriteList(sc *smithy.Schema)   { s.open(sc, true) }
func (s *jsonvSerializer) CloseList()                    { s.close() }
func (s *jsonvSerializer) WriteMap(sc *smithy.Schema)    { s.open(sc, false) }
func (s *jsonvSerializer) CloseMap()                     { s.close() }
func (s *jsonvSerializer) WriteKey(_ *smithy.Schema, k string) {
	top := s.stack[len(s.stack)-1]
	top.pending, top.hasPending = k, true
}

func (s *jsonvSerializer) WriteDocument(sc *smithy.Schema, v document.Value) {
	s.value(sc, documentJSON(v))
}

func documentJSON(v document.Value) any {
	switch t := v.(type) {
	case document.Boolean:
		return bool(t)
	case document.Number:
		return json.Number(t)
	case document.String:
		return string(t)
	case document.List:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = documentJSON(e)
		}
		return out
	case document.Map:
		m := map[string]any{}
		for k, e := range t {
			m[k] = documentJSON(e)
		}
		return jsonv.Normalize(m)
	}
	return nil
}

func intNumber(v int64) json.Number { return json.Number(strconv.FormatInt(v, 10)) }

func floatNumber(v float64, bits int) any {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return nil
	}
	return json.Number(strconv.FormatFloat(v, 'f', -1, bits))
}
