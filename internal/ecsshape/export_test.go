package ecsshape

import "reflect"

// Hooks for the external tests, which check these tables against the SDK.

var WireNameExceptions = wireNameExceptions

func UnionMembers(t reflect.Type) []reflect.Type { return unionMembers[t] }

func UnionMemberName(union, member reflect.Type) string { return unionMemberName(union, member) }
