package prefectfake

import (
	"net/http"
	"net/url"
	"strings"
)

type route struct {
	method, pattern string
	segs            []string
	handler         func(*Server, *call) *reply
	// ws serves a WebSocket route; such routes skip body handling.
	ws func(*Server, http.ResponseWriter, *http.Request, map[string]string)
}

var routes []*route

func init() {
	add := func(method, pattern string, h func(*Server, *call) *reply) {
		routes = append(routes, &route{method: method, pattern: pattern, segs: strings.Split(pattern[1:], "/"), handler: h})
	}
	addWS := func(pattern string, h func(*Server, http.ResponseWriter, *http.Request, map[string]string)) {
		routes = append(routes, &route{method: http.MethodGet, pattern: pattern, segs: strings.Split(pattern[1:], "/"), ws: h})
	}

	add("GET", "/health", (*Server).health)
	add("GET", "/ready", (*Server).ready)
	add("GET", "/hello", (*Server).hello)
	add("GET", "/version", (*Server).version)
	add("GET", "/admin/version", (*Server).adminVersion)
	add("GET", "/csrf-token", (*Server).csrfToken)

	add("POST", "/work_pools/", (*Server).createWorkPool)
	add("POST", "/work_pools/filter", (*Server).filterWorkPools)
	add("GET", "/work_pools/{name}", (*Server).readWorkPool)
	add("PATCH", "/work_pools/{name}", (*Server).updateWorkPool)
	add("DELETE", "/work_pools/{name}", (*Server).deleteWorkPool)
	add("POST", "/work_pools/{work_pool_name}/workers/heartbeat", (*Server).heartbeat)
	add("POST", "/work_pools/{work_pool_name}/workers/filter", (*Server).filterWorkers)
	add("POST", "/work_pools/{name}/get_scheduled_flow_runs", (*Server).getScheduledFlowRuns)
	add("POST", "/work_pools/{work_pool_name}/queues/filter", (*Server).filterWorkQueues)
	add("GET", "/work_pools/{work_pool_name}/queues/{name}", (*Server).readWorkQueue)

	add("POST", "/flows/", (*Server).createFlowHTTP)
	add("GET", "/flows/{id}", (*Server).readFlow)

	add("POST", "/deployments/", (*Server).createDeploymentHTTP)
	add("POST", "/deployments/filter", (*Server).filterDeployments)
	add("GET", "/deployments/{id}", (*Server).readDeployment)
	add("GET", "/deployments/name/{flow_name}/{deployment_name}", (*Server).readDeploymentByName)
	add("DELETE", "/deployments/{id}", (*Server).deleteDeployment)
	add("POST", "/deployments/{id}/create_flow_run", (*Server).createFlowRunHTTP)

	add("POST", "/flow_runs/filter", (*Server).filterFlowRuns)
	add("GET", "/flow_runs/{id}", (*Server).readFlowRun)
	add("PATCH", "/flow_runs/{id}", (*Server).updateFlowRun)
	add("DELETE", "/flow_runs/{id}", (*Server).deleteFlowRun)
	add("POST", "/flow_runs/{id}/set_state", (*Server).setFlowRunStateHTTP)
	add("PATCH", "/flow_runs/{id}/labels", (*Server).updateFlowRunLabels)

	add("POST", "/logs/", (*Server).createLogs)
	add("GET", "/block_documents/{id}", (*Server).readBlockDocument)
	add("GET", "/block_types/slug/{slug}/block_documents/name/{block_document_name}", (*Server).readBlockDocumentByName)
	add("GET", "/variables/name/{name}", (*Server).readVariable)
	add("POST", "/events", (*Server).createEvents)

	addWS("/events/in", (*Server).eventsIn)
	addWS("/events/out", (*Server).eventsOut)
}

// matchRoute finds the route for method and the escaped API path. When
// several patterns fit, the one with more literal segments wins, as in
// FastAPI where /flow_runs/filter is declared before /flow_runs/{id}.
// methodOK reports that the path exists under another method.
func matchRoute(method, escapedPath string) (rt *route, params map[string]string, methodOK bool) {
	raw := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	segs := make([]string, len(raw))
	for i, r := range raw {
		u, err := url.PathUnescape(r)
		if err != nil {
			return nil, nil, false
		}
		segs[i] = u
	}
	best := -1
	for _, cand := range routes {
		if len(cand.segs) != len(segs) {
			continue
		}
		literals := 0
		var ps map[string]string
		ok := true
		for i, s := range cand.segs {
			if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
				if segs[i] == "" {
					ok = false
					break
				}
				if ps == nil {
					ps = map[string]string{}
				}
				ps[s[1:len(s)-1]] = segs[i]
				continue
			}
			if s != segs[i] {
				ok = false
				break
			}
			literals++
		}
		if !ok {
			continue
		}
		if cand.method != method {
			methodOK = true
			continue
		}
		if literals > best {
			best, rt, params = literals, cand, ps
		}
	}
	if rt != nil {
		methodOK = false
	}
	return rt, params, methodOK
}
