import t from 'tap';
import { parseRequestInfo } from '../../src/request/request-info.js';

// [method, url, verb, apiPrefix, apiGroup, apiVersion, namespace, resource, subresource, name, parts]
type ResourceCase = [string, string, string, string, string, string, string, string, string, string, string[]];

const resourceCases: ResourceCase[] = [
  // --- TestGetAPIRequestInfo successCases (requestinfo_test.go); apiPrefix corrected to 'apis' for /apis URLs
  // resource paths
  ['GET', '/api/v1/namespaces', 'list', 'api', '', 'v1', '', 'namespaces', '', '', ['namespaces']],
  ['GET', '/api/v1/namespaces/other', 'get', 'api', '', 'v1', 'other', 'namespaces', '', 'other', ['namespaces', 'other']],
  ['GET', '/api/v1/namespaces/other/pods', 'list', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/other/pods/foo', 'get', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo']],
  ['HEAD', '/api/v1/namespaces/other/pods/foo', 'get', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo']],
  ['GET', '/api/v1/pods', 'list', 'api', '', 'v1', '', 'pods', '', '', ['pods']],
  ['HEAD', '/api/v1/pods', 'list', 'api', '', 'v1', '', 'pods', '', '', ['pods']],
  ['PATCH', '/api/v1/namespaces/new-namespace', 'patch', 'api', '', 'v1', 'new-namespace', 'namespaces', '', 'new-namespace', ['namespaces', 'new-namespace']],
  // special verbs
  ['GET', '/api/v1/proxy/namespaces/other/pods/foo', 'proxy', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo']],
  ['GET', '/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource', 'proxy', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo', 'subpath', 'not', 'a', 'subresource']],
  ['GET', '/api/v1/watch/pods', 'watch', 'api', '', 'v1', '', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/pods?watch=true', 'watch', 'api', '', 'v1', '', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/pods?watch=false', 'list', 'api', '', 'v1', '', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/watch/namespaces/other/pods', 'watch', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/other/pods?watch=1', 'watch', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/other/pods?watch=0', 'list', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  // subresource identification
  ['GET', '/api/v1/namespaces/other/pods/foo/status', 'get', 'api', '', 'v1', 'other', 'pods', 'status', 'foo', ['pods', 'foo', 'status']],
  ['GET', '/api/v1/namespaces/other/pods/foo/proxy/subpath', 'get', 'api', '', 'v1', 'other', 'pods', 'proxy', 'foo', ['pods', 'foo', 'proxy', 'subpath']],
  ['PUT', '/api/v1/namespaces/other/finalize', 'update', 'api', '', 'v1', 'other', 'namespaces', 'finalize', 'other', ['namespaces', 'other', 'finalize']],
  ['PUT', '/api/v1/namespaces/other/status', 'update', 'api', '', 'v1', 'other', 'namespaces', 'status', 'other', ['namespaces', 'other', 'status']],
  // verb identification
  ['PATCH', '/api/v1/namespaces/other/pods/foo', 'patch', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo']],
  ['DELETE', '/api/v1/namespaces/other/pods/foo', 'delete', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo']],
  ['POST', '/api/v1/namespaces/other/pods', 'create', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  // deletecollection verb identification
  ['DELETE', '/api/v1/nodes', 'deletecollection', 'api', '', 'v1', '', 'nodes', '', '', ['nodes']],
  ['DELETE', '/api/v1/namespaces', 'deletecollection', 'api', '', 'v1', '', 'namespaces', '', '', ['namespaces']],
  ['DELETE', '/api/v1/namespaces/other/pods', 'deletecollection', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  ['DELETE', '/apis/extensions/v1/namespaces/other/pods', 'deletecollection', 'apis', 'extensions', 'v1', 'other', 'pods', '', '', ['pods']],
  // api group and version identification
  ['POST', '/apis/extensions/v1/namespaces/other/pods', 'create', 'apis', 'extensions', 'v1', 'other', 'pods', '', '', ['pods']],
  ['POST', '/apis/extensions/v1beta3/namespaces/other/pods', 'create', 'apis', 'extensions', 'v1beta3', 'other', 'pods', '', '', ['pods']],

  // --- TestGetNonAPIRequestInfo resource cases
  ['GET', '/api/version/resource', 'list', 'api', '', 'version', '', 'resource', '', '', ['resource']],
  ['GET', '/apis/group/version/resource/name/subresource', 'get', 'apis', 'group', 'version', '', 'resource', 'subresource', 'name', ['resource', 'name', 'subresource']],
  ['GET', '/api/version/resource/name/subresource', 'get', 'api', '', 'version', '', 'resource', 'subresource', 'name', ['resource', 'name', 'subresource']],
  ['GET', '/apis/batch/v1/job', 'list', 'apis', 'batch', 'v1', '', 'job', '', '', ['job']],
  ['GET', '/apis/batch/v1/job/foo', 'get', 'apis', 'batch', 'v1', '', 'job', '', 'foo', ['job', 'foo']],
  ['GET', '/apis/batch/v1/job/foo/scale', 'get', 'apis', 'batch', 'v1', '', 'job', 'scale', 'foo', ['job', 'foo', 'scale']],

  // --- TestFieldSelectorParsing
  ['GET', '/apis/group/version/resource', 'list', 'apis', 'group', 'version', '', 'resource', '', '', ['resource']],
  ['GET', '/apis/group/version/resource?fieldSelector=metadata.name=name1', 'list', 'apis', 'group', 'version', '', 'resource', '', 'name1', ['resource']],
  ['GET', '/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1', 'watch', 'apis', 'group', 'version', '', 'resource', '', 'name1', ['resource']],
  ['GET', '/apis/group/version/resource?fieldSelector=foo=bar', 'list', 'apis', 'group', 'version', '', 'resource', '', '', ['resource']],
  ['GET', '/apis/group/version/resource?fieldSelector=metadata.name=name1,foo', 'list', 'apis', 'group', 'version', '', 'resource', '', '', ['resource']],
  ['GET', '/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=true', 'watch', 'apis', 'group', 'version', '', 'resource', '', '', ['resource']],
  ['GET', '/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=false', 'list', 'apis', 'group', 'version', '', 'resource', '', '', ['resource']],

  // --- watch
  ['GET', '/api/v1/namespaces/ns/pods?watch=TRUE', 'watch', 'api', '', 'v1', 'ns', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/ns/pods?watch=FALSE', 'list', 'api', '', 'v1', 'ns', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/ns/pods?watch=', 'watch', 'api', '', 'v1', 'ns', 'pods', '', '', ['pods']], // empty value counts as true
  ['GET', '/api/v1/namespaces/ns/pods?watch', 'watch', 'api', '', 'v1', 'ns', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/ns/pods?watch=0&watch=1', 'list', 'api', '', 'v1', 'ns', 'pods', '', '', ['pods']], // first value wins
  ['GET', '/api/v1/namespaces/ns/pods/p?watch=true', 'get', 'api', '', 'v1', 'ns', 'pods', '', 'p', ['pods', 'p']], // named: stays get
  ['GET', '/api/v1/watch/namespaces/ns/pods/p', 'watch', 'api', '', 'v1', 'ns', 'pods', '', 'p', ['pods', 'p']],
  ['GET', '/apis/apps/v1/watch/namespaces/ns/deployments', 'watch', 'apis', 'apps', 'v1', 'ns', 'deployments', '', '', ['deployments']],
  ['GET', '/apis/apps/v1/namespaces/ns/deployments?fieldSelector=metadata.name%3Dweb&watch=1&resourceVersion=10', 'watch', 'apis', 'apps', 'v1', 'ns', 'deployments', '', 'web', ['deployments']],
  ['GET', '/api/v1/namespaces/ns/pods?fieldSelector=metadata.name==a', 'list', 'api', '', 'v1', 'ns', 'pods', '', 'a', ['pods']],
  ['GET', '/api/v1/namespaces/ns/pods?fieldSelector=metadata.name!=a', 'list', 'api', '', 'v1', 'ns', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/ns/pods?fieldSelector=spec.nodeName=n1,metadata.name=a', 'list', 'api', '', 'v1', 'ns', 'pods', '', 'a', ['pods']],
  ['GET', '/api/v1/namespaces/ns/pods?fieldSelector=metadata.name=b,metadata.name=a', 'list', 'api', '', 'v1', 'ns', 'pods', '', 'a', ['pods']], // terms are sorted
  ['GET', '/api/v1/namespaces/ns/pods?fieldSelector=metadata.name=a\\,b', 'list', 'api', '', 'v1', 'ns', 'pods', '', 'a,b', ['pods']],
  ['GET', '/api/v1/namespaces/ns/pods?fieldSelector=metadata.name=a%2Fb', 'list', 'api', '', 'v1', 'ns', 'pods', '', '', ['pods']], // not a valid path segment
  ['GET', '/api/v1/namespaces/ns/pods?fieldSelector=metadata.name=..', 'list', 'api', '', 'v1', 'ns', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/ns/pods?fieldSelector=metadata.name=a&limit=abc', 'list', 'api', '', 'v1', 'ns', 'pods', '', '', ['pods']], // ListOptions decode fails
  ['GET', '/api/v1/namespaces/ns/pods?fieldSelector=metadata.name=a&limit=500&timeoutSeconds=30', 'list', 'api', '', 'v1', 'ns', 'pods', '', 'a', ['pods']],
  ['GET', '/api/v1/namespaces/ns/pods?watch=true;x=1', 'list', 'api', '', 'v1', 'ns', 'pods', '', '', ['pods']], // ';' pairs are dropped by Go

  // --- log, exec, attach, portforward, other subresources
  ['GET', '/api/v1/namespaces/ns/pods/p/log', 'get', 'api', '', 'v1', 'ns', 'pods', 'log', 'p', ['pods', 'p', 'log']],
  ['GET', '/api/v1/namespaces/ns/pods/p/log?container=c&follow=true', 'get', 'api', '', 'v1', 'ns', 'pods', 'log', 'p', ['pods', 'p', 'log']],
  ['POST', '/api/v1/namespaces/ns/pods/p/exec?command=sh&stdin=true', 'create', 'api', '', 'v1', 'ns', 'pods', 'exec', 'p', ['pods', 'p', 'exec']],
  ['GET', '/api/v1/namespaces/ns/pods/p/exec?command=ls', 'get', 'api', '', 'v1', 'ns', 'pods', 'exec', 'p', ['pods', 'p', 'exec']],
  ['POST', '/api/v1/namespaces/ns/pods/p/attach', 'create', 'api', '', 'v1', 'ns', 'pods', 'attach', 'p', ['pods', 'p', 'attach']],
  ['POST', '/api/v1/namespaces/ns/pods/p/portforward', 'create', 'api', '', 'v1', 'ns', 'pods', 'portforward', 'p', ['pods', 'p', 'portforward']],
  ['POST', '/api/v1/namespaces/ns/pods/p/eviction', 'create', 'api', '', 'v1', 'ns', 'pods', 'eviction', 'p', ['pods', 'p', 'eviction']],
  ['PUT', '/apis/apps/v1/namespaces/ns/deployments/d/scale', 'update', 'apis', 'apps', 'v1', 'ns', 'deployments', 'scale', 'd', ['deployments', 'd', 'scale']],
  ['PATCH', '/apis/apps/v1/namespaces/ns/deployments/d/status', 'patch', 'apis', 'apps', 'v1', 'ns', 'deployments', 'status', 'd', ['deployments', 'd', 'status']],

  // --- namespaces themselves
  ['GET', '/api/v1/namespaces/ns', 'get', 'api', '', 'v1', 'ns', 'namespaces', '', 'ns', ['namespaces', 'ns']],
  ['GET', '/api/v1/namespaces/ns/status', 'get', 'api', '', 'v1', 'ns', 'namespaces', 'status', 'ns', ['namespaces', 'ns', 'status']],
  ['DELETE', '/api/v1/namespaces/ns', 'delete', 'api', '', 'v1', 'ns', 'namespaces', '', 'ns', ['namespaces', 'ns']],
  ['POST', '/api/v1/namespaces', 'create', 'api', '', 'v1', '', 'namespaces', '', '', ['namespaces']],

  // --- deletecollection
  ['DELETE', '/apis/apps/v1/namespaces/ns/deployments?labelSelector=app%3Dweb', 'deletecollection', 'apis', 'apps', 'v1', 'ns', 'deployments', '', '', ['deployments']],
  ['DELETE', '/apis/rbac.authorization.k8s.io/v1/clusterroles', 'deletecollection', 'apis', 'rbac.authorization.k8s.io', 'v1', '', 'clusterroles', '', '', ['clusterroles']],

  // --- proxy
  ['GET', '/api/v1/proxy/nodes/n1/stats', 'proxy', 'api', '', 'v1', '', 'nodes', '', 'n1', ['nodes', 'n1', 'stats']],
  ['POST', '/api/v1/proxy/namespaces/ns/services/svc:http/api', 'proxy', 'api', '', 'v1', 'ns', 'services', '', 'svc:http', ['services', 'svc:http', 'api']],
  ['GET', '/api/v1/namespaces/ns/services/svc:80/proxy/metrics', 'get', 'api', '', 'v1', 'ns', 'services', 'proxy', 'svc:80', ['services', 'svc:80', 'proxy', 'metrics']],
  ['GET', '/api/v1/nodes/n1/proxy/healthz', 'get', 'api', '', 'v1', '', 'nodes', 'proxy', 'n1', ['nodes', 'n1', 'proxy', 'healthz']],

  // --- cluster-scoped resources
  ['GET', '/api/v1/nodes/n1', 'get', 'api', '', 'v1', '', 'nodes', '', 'n1', ['nodes', 'n1']],
  ['PUT', '/api/v1/nodes/n1/status', 'update', 'api', '', 'v1', '', 'nodes', 'status', 'n1', ['nodes', 'n1', 'status']],
  ['POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', 'create', 'apis', 'authorization.k8s.io', 'v1', '', 'selfsubjectaccessreviews', '', '', ['selfsubjectaccessreviews']],
  ['GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/foos.example.com', 'get', 'apis', 'apiextensions.k8s.io', 'v1', '', 'customresourcedefinitions', '', 'foos.example.com', ['customresourcedefinitions', 'foos.example.com']],

  // --- odd input
  ['OPTIONS', '/api/v1/pods', '', 'api', '', 'v1', '', 'pods', '', '', ['pods']], // unknown method: empty verb, as in Go
  ['get', '/api/v1/pods', '', 'api', '', 'v1', '', 'pods', '', '', ['pods']], // methods are case-sensitive in Go
  ['GET', '/api/v1/namespaces/a%2Fb/pods', 'get', 'api', '', 'v1', 'a', 'b', '', 'pods', ['b', 'pods']], // decoded before splitting
  ['GET', '/api/v1/namespaces/n%C3%A9/pods/%7Ex', 'get', 'api', '', 'v1', 'né', 'pods', '', '~x', ['pods', '~x']],
  ['GET', '/api/v1/namespaces/a+b/pods', 'list', 'api', '', 'v1', 'a+b', 'pods', '', '', ['pods']], // '+' is literal in paths
  ['GET', '//api/v1/pods/', 'list', 'api', '', 'v1', '', 'pods', '', '', ['pods']], // only outer slashes trimmed
  ['GET', '/api/v1//pods', 'get', 'api', '', 'v1', '', '', '', 'pods', ['', 'pods']], // inner empty segment kept
  ['GET', '/api/v1/namespaces//pods', 'list', 'api', '', 'v1', '', 'pods', '', '', ['pods']],
  ['GET', 'https://kube.example:6443/api/v1/namespaces/ns/pods/p', 'get', 'api', '', 'v1', 'ns', 'pods', '', 'p', ['pods', 'p']], // absolute-form
  ['GET', '/api/v1/namespaces/%zz/pods', 'list', 'api', '', 'v1', '%zz', 'pods', '', '', ['pods']], // bad escape (Go: 400): raw path kept
  ['GET', '/api/v1/watch', 'get', 'api', '', 'v1', '', '', '', '', []], // Go: error, partial info
];

t.test('resource requests', async (t) => {
  for (const [method, url, verb, apiPrefix, apiGroup, apiVersion, namespace, resource, subresource, name, parts] of resourceCases) {
    const info = parseRequestInfo(method, url);
    t.strictSame(
      {
        isResourceRequest: info.isResourceRequest,
        verb: info.verb,
        apiPrefix: info.apiPrefix,
        apiGroup: info.apiGroup,
        apiVersion: info.apiVersion,
        namespace: info.namespace,
        resource: info.resource,
        subresource: info.subresource,
        name: info.name,
        parts: info.parts,
      },
      { isResourceRequest: true, verb, apiPrefix, apiGroup, apiVersion, namespace, resource, subresource, name, parts },
      `${method} ${url}`,
    );
  }
});

// [method, url, verb, path]
const nonResourceCases: [string, string, string, string][] = [
  // TestGetAPIRequestInfo errorCases
  ['GET', '/', 'get', '/'],
  ['GET', '/api/version/', 'get', '/api/version/'],
  ['GET', '/apis/group/version/', 'get', '/apis/group/version/'],
  ['GET', '/badprefix/version/resource', 'get', '/badprefix/version/resource'],
  ['GET', '/apis/version/resource', 'get', '/apis/version/resource'],
  // TestGetNonAPIRequestInfo non-resource cases
  ['GET', '/not-api/version/resource', 'get', '/not-api/version/resource'],
  ['GET', '/apis/extensions/v1beta1', 'get', '/apis/extensions/v1beta1'],
  ['GET', '/apis/extensions/v1beta1/', 'get', '/apis/extensions/v1beta1/'],
  ['GET', '/api/version', 'get', '/api/version'],
  ['GET', '/api', 'get', '/api'],
  ['GET', '', 'get', ''],
  // discovery and friends
  ['GET', '/version', 'get', '/version'],
  ['GET', '/version?timeout=32s', 'get', '/version'],
  ['GET', '/healthz', 'get', '/healthz'],
  ['GET', '/livez/etcd?verbose', 'get', '/livez/etcd'],
  ['GET', '/readyz', 'get', '/readyz'],
  ['GET', '/openapi/v2', 'get', '/openapi/v2'],
  ['GET', '/openapi/v3/apis/apps/v1?hash=abc', 'get', '/openapi/v3/apis/apps/v1'],
  ['GET', '/apis', 'get', '/apis'],
  ['GET', '/api/v1', 'get', '/api/v1'],
  ['GET', '/apis/apps/v1', 'get', '/apis/apps/v1'],
  ['HEAD', '/healthz', 'head', '/healthz'],
  ['POST', '/logs/x', 'post', '/logs/x'],
  ['OPTIONS', '*', 'options', '*'],
  ['GET', '/metrics', 'get', '/metrics'],
  // malformed escapes: Go's server would answer 400; the raw path is kept
  ['GET', '/healthz%', 'get', '/healthz%'],
  ['GET', '/ver%73ion', 'get', '/version'],
];

t.test('non-resource requests', async (t) => {
  for (const [method, url, verb, path] of nonResourceCases) {
    t.strictSame(parseRequestInfo(method, url), { isResourceRequest: false, path, verb }, `${method} ${url}`);
  }
});

t.test('path is the decoded URL path', async (t) => {
  t.equal(parseRequestInfo('GET', '/api/v1/namespaces/a%20b/pods?watch=1').path, '/api/v1/namespaces/a b/pods');
  t.equal(parseRequestInfo('GET', '/api/v1/namespaces/a%20b/pods?watch=1').namespace, 'a b');
});

t.test('never throws on odd input', async (t) => {
  const odd = [
    '%', '%%', '/api/v1/%', '/api/v1/pods?%zz=1&watch=%', '/api/v1/pods?fieldSelector=%E0%A4%A',
    '/api/v1/pods?fieldSelector=metadata.name=\\', '/api/v1/pods?fieldSelector=metadata.name=%FF',
    '/api/v1/pods?limit=99999999999999999999', '/api/v1/pods?constructor=1&__proto__=2',
    '/apis/x/y/z/'.repeat(50), '?', '??', '/api/v1/pods#frag', '\u0000', '/api/v1/\uD800',
  ];
  for (const url of odd) {
    for (const method of ['GET', 'DELETE', 'constructor', '__proto__', '']) {
      t.doesNotThrow(() => parseRequestInfo(method, url), `${method} ${url}`);
    }
  }
  t.equal(parseRequestInfo('constructor', '/api/v1/pods').verb, '');
  t.equal(parseRequestInfo('GET', '/api/v1/pods?limit=99999999999999999999&fieldSelector=metadata.name=a').name, '');
  t.equal(parseRequestInfo('GET', '/api/v1/pods?limit=-5&fieldSelector=metadata.name=a').name, 'a');
});
