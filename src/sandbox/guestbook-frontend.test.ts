import { describe, expect, it } from 'vitest';
import { dataJson, guestbookPage, redisHosts } from './guestbook-frontend.js';
import { encodeCommand, parseReply } from './resp-client.js';

describe('guestbook frontend', () => {
  it('finds the redis hosts as guestbook.php does', () => {
    expect(redisHosts({ GET_HOSTS_FROM: 'env', REDIS_MASTER_SERVICE_HOST: '10.96.0.12', REDIS_SLAVE_SERVICE_HOST: '10.96.0.13' })).toEqual({
      master: '10.96.0.12',
      slave: '10.96.0.13',
    });
    expect(redisHosts({ GET_HOSTS_FROM: 'dns' })).toEqual({ master: 'redis-master', slave: 'redis-slave' });
  });

  it("prints the PHP's JSON, escaped where the PHP's would not be JSON", () => {
    expect(dataJson('hello,world')).toBe('{"data": "hello,world"}');
    expect(dataJson(null)).toBe('{"data": ""}');
    expect(JSON.parse(dataJson('say "hi"\\'))).toEqual({ data: 'say "hi"\\' });
  });

  it('lists the messages, HTML-escaped, above nothing but a form', () => {
    const page = guestbookPage(['hello', '<b>&'], 'frontend-x');
    expect(page).toContain('<li>hello</li>');
    expect(page).toContain('<li>&#60;b&#62;&#38;</li>');
    expect(page).toContain('<form id="guestbook">');
    expect(page).toContain("guestbook.php?cmd=set&key=messages&value='");
  });
});

describe('RESP', () => {
  it('encodes a command as an array of bulk strings, counting bytes', () => {
    expect(encodeCommand(['SET', 'messages', 'héllo'])).toBe('*3\r\n$3\r\nSET\r\n$8\r\nmessages\r\n$6\r\nhéllo\r\n');
  });

  it('parses status, integer, bulk, nil and error replies, and waits for a whole bulk string', () => {
    expect(parseReply(Buffer.from('+OK\r\n'))).toBe('OK');
    expect(parseReply(Buffer.from(':3\r\n'))).toBe('3');
    expect(parseReply(Buffer.from('$5\r\nhello\r\n'))).toBe('hello');
    expect(parseReply(Buffer.from('$5\r\nhel'))).toBeUndefined();
    expect(parseReply(Buffer.from('$-1\r\n'))).toBeNull();
    expect(parseReply(Buffer.from('-READONLY You can'))).toBeUndefined();
    expect(String(parseReply(Buffer.from("-READONLY You can't write against a read only replica.\r\n")))).toBe(
      "Error: redis: READONLY You can't write against a read only replica.",
    );
  });
});
