@security
Feature: Security middleware
  Every response carries the security headers; clients are rate limited per
  category with an exact sliding window; state-changing requests that carry
  cookies need a CSRF token bound to their session (spec/security.md).

  @p12 @req-4.1 @req-4.2 @req-4.3 @req-4.4 @req-4.5 @req-4.6 @id-error-headers
  Scenario Outline: Error answers carry the security headers too
    When I send "<method>" to "<path>"
    Then the response status is <status>
    And the response carries the six security headers

    Examples:
      | case      | method | path                      | status |
      | ok        | GET    | /health                   | 200    |
      | not found | GET    | /dx-conformance/no-such   | 404    |
      | method    | DELETE | /health                   | 405    |

  @p12 @req-4.1 @id-malformed-body-headers
  Scenario: A malformed body's 400 carries the security headers
    When I post malformed JSON to the client error endpoint
    Then the response status is 400
    And the response carries the six security headers

  # Serial: it spends a budget one request after another and judges the count against the
  # category's window, so it runs without other scenarios competing for the target's time.
  @p13 @p14 @req-5.1 @req-5.2 @req-5.3 @conformance @serial @id-retry-after
  Scenario: A spent budget is refused until Retry-After has passed
    Given the target limits the "api" category in the conformance profile
    When I spend the "api" budget in a fresh partition
    Then every answer counted down the RateLimit field to 0
    When I send one more request in that partition
    Then the response is an error envelope with code "RATE_LIMITED"
    And the response carries the six security headers
    When I wait the Retry-After and send one more request in that partition
    Then the request is admitted

  @p16 @p17 @p18 @req-6.1 @req-6.3 @req-6.4 @req-6.5 @req-6.6 @id-csrf-session
  Scenario: A session's token works in the header and in a form, and dies with its session
    Given the target offers CSRF
    When I open a session at the token endpoint
    And I send "POST" to the token endpoint with my session and no token
    Then the response is refused as CSRF with the reason "missing"
    When I send "DELETE" to the token endpoint with my session and my token in the header
    Then the CSRF check let the request through
    When I send "PUT" to the token endpoint with my session and my token in a urlencoded form
    Then the CSRF check let the request through
    When I send "PATCH" to the token endpoint with my session and my token in a multipart form
    Then the CSRF check let the request through
    When I open another session at the token endpoint
    And I send "POST" to the token endpoint with my first session and the other session's token
    # Another session's token was issued by this server, but a server whose MAC binds the
    # session cannot tell it from a forged one: either reason applies (spec/security.md).
    Then the response is refused as CSRF with the reason "session-mismatch or invalid"
    When I end my session with a form post
    Then the response status is 204
    When I send "DELETE" to the token endpoint with my session and my token in the header
    Then the response is refused as CSRF with the reason "no-session"

  @p17 @req-6.3 @id-hostile-csrf-tokens
  Scenario Outline: Hostile tokens are refused whatever their shape
    Given the target offers CSRF
    When I open a session at the token endpoint
    And I send "POST" to the token endpoint with my session and the token "<token>" in the header
    Then the response is refused as CSRF with the reason "<reason>"

    Examples:
      | case           | token                                                                                             | reason    |
      | one character  | x                                                                                                 | malformed |
      | right length   | AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA  | invalid or malformed |
      | padding only   | ====                                                                                              | malformed |
      | path traversal | ../../etc/passwd                                                                                  | malformed |
