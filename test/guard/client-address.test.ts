import t from 'tap';
import { addressKey, clientAddress, trustedProxies } from '../../src/guard/client-address.js';

t.test('without trusted proxies X-Forwarded-For is ignored', async (t) => {
  const none = trustedProxies([]);
  t.equal(clientAddress('10.0.0.5', ['1.2.3.4'], none), '10.0.0.5');
  t.equal(clientAddress('::ffff:10.0.0.5', [], none), '10.0.0.5', 'IPv4-mapped addresses read as IPv4');
});

t.test('from a trusted proxy, the rightmost untrusted hop is the client', async (t) => {
  const lb = trustedProxies(['10.0.0.0/8', 'fd00::/8', '192.168.1.1']);
  t.equal(clientAddress('10.1.2.3', ['203.0.113.7'], lb), '203.0.113.7');
  t.equal(clientAddress('10.1.2.3', ['6.6.6.6, 203.0.113.7, 10.9.9.9'], lb), '203.0.113.7', 'a client-written leftmost entry is not believed');
  t.equal(clientAddress('10.1.2.3', ['6.6.6.6', '203.0.113.7'], lb), '203.0.113.7', 'several headers read as one list');
  t.equal(clientAddress('192.168.1.1', ['[2001:db8::1]:443'], lb), '2001:db8::1', 'brackets and ports');
  t.equal(clientAddress('10.1.2.3', ['10.2.2.2'], lb), '10.2.2.2', 'all hops trusted: the leftmost');
  t.equal(clientAddress('10.1.2.3', ['garbage, 10.2.2.2'], lb), '10.2.2.2', 'a hop that is not an address stops the walk');
  t.equal(clientAddress('10.1.2.3', ['not-an-ip'], lb), '10.1.2.3');
  t.equal(clientAddress('10.1.2.3', [], lb), '10.1.2.3', 'no header: the proxy itself');
  t.equal(clientAddress('172.16.0.1', ['203.0.113.7'], lb), '172.16.0.1', 'an untrusted peer\'s header is ignored');
});

t.test('IPv6 rate-limit keys group a /64', async (t) => {
  t.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  t.equal(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
  t.equal(addressKey('::1'), '0:0:0:0::/64');
  t.equal(addressKey('203.0.113.7'), '203.0.113.7');
});
