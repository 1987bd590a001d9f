@error @p08 @req-2.5 @req-7.1
Feature: Error response format validation
  Every response with status 400 or above carries the standard error envelope
  (spec/error-format.md): a code from spec/error-codes.toml with its number and
  status, a non-empty message, the request id of the X-Request-Id header and an
  RFC 3339 timestamp. No error reveals anything internal, and no bad request
  stops the server from serving the next one.

  @id-envelope
  Scenario Outline: A bad request is answered with a complete error envelope
    Given the target
    When <request>
    Then the response status is <status>
    And the response is a complete error envelope with code "<code>"
    And the envelope's request id matches the X-Request-Id header
    And the envelope's timestamp is RFC 3339 in UTC
    And the response reveals nothing internal
    And <also>

    Examples:
      | case                 | request                                                                               | status | code                   | also                                                            |
      | unknown path         | I send "GET" to "/dx-conformance/no-such-page"                                        | 404    | NOT_FOUND              | the response has a non-empty "X-Request-Id" header              |
      | invalid UTF-8 path   | I send "GET" to "/%FF%FE"                                                             | 404    | NOT_FOUND              | the response has a non-empty "X-Request-Id" header              |
      | unsupported method   | I send "DELETE" to the health endpoint                                                | 405    | METHOD_NOT_ALLOWED     | the Allow header lists exactly "GET, HEAD"                      |
      | PUT on health        | I send "PUT" to the health endpoint                                                   | 405    | METHOD_NOT_ALLOWED     | the Allow header lists exactly "GET, HEAD"                      |
      | malformed JSON       | I post malformed JSON to the client error endpoint                                    | 400    | BAD_REQUEST            | the response has a non-empty "X-Request-Id" header              |
      | wrong media type     | I post a valid report as "text/plain" to the client error endpoint                    | 415    | UNSUPPORTED_MEDIA_TYPE | the response has a non-empty "X-Request-Id" header              |
      | body over the limit  | I post a body one byte over the body limit to the client error endpoint               | 413    | PAYLOAD_TOO_LARGE      | the error detail "max_body_bytes" is the discovery body limit   |
      | chunked GET too big  | I send "GET" with a chunked body one byte over the body limit to the health endpoint  | 413    | PAYLOAD_TOO_LARGE      | the error detail "max_body_bytes" is the discovery body limit   |
      | POST on health, big | I send "POST" with a chunked body one byte over the body limit to the health endpoint | 413    | PAYLOAD_TOO_LARGE      | the error detail "max_body_bytes" is the discovery body limit   |
      | empty boundary       | I post the JSON {"boundary": "", "message": "probe"} to the client error endpoint     | 422    | VALIDATION_FAILED      | the error detail "field" is "boundary"                          |
      | duplicate member     | I post the text {"boundary": "a", "message": "m", "boundary": "b"} as JSON to the client error endpoint | 400 | BAD_REQUEST | the response has a non-empty "X-Request-Id" header |

  @req-7.2 @id-request-id-kept
  Scenario: A valid client-supplied request id is kept
    Given the target
    When I send "GET" to "/dx-conformance/no-such-page" with the request id "dx-conformance.req:42_A-b"
    Then the response status is 404
    And the X-Request-Id header is "dx-conformance.req:42_A-b"
    And the response is a complete error envelope with code "NOT_FOUND"
    And the envelope's request id is "dx-conformance.req:42_A-b"

  @req-7.2 @id-request-id-replaced
  Scenario Outline: An invalid request id is replaced by a generated one
    Given the target
    When <request>
    Then the response status is 404
    And the response is a complete error envelope with code "NOT_FOUND"
    And the request id I sent was replaced by a generated one
    And the envelope's request id matches the X-Request-Id header

    Examples:
      | case           | request                                                                            |
      | a space        | I send "GET" to "/dx-conformance/no-such-page" with the request id "has space"     |
      | 200 characters | I send "GET" to "/dx-conformance/no-such-page" with a request id of 200 characters |
      | two headers    | I send "GET" to "/dx-conformance/no-such-page" with the request ids "id-1" and "id-2" |

  @id-serves-after-bad-input
  Scenario: The server keeps serving after bad input
    Given the target
    When I send 5 rounds of every bad request at once
    Then every response of the burst is an error envelope with a 4xx status
    When I send "GET" to the health endpoint
    Then the response status is 200
    And the response body is the JSON {"status": "ok"}

  @conformance @server @p26 @p07 @req-2.4 @req-7.5 @id-panic-sanitized
  Scenario: A panicking route answers a sanitized 500 and the server keeps serving
    Given the target is in the conformance profile
    When a route panics through the fault hooks with a secret marker in its panic message
    Then the response status is 500
    And the response is a complete error envelope with code "INTERNAL_ERROR"
    And the error message is "Internal server error"
    And the response reveals nothing internal
    When I send "GET" to the health endpoint
    Then the response status is 200
    And the response body is the JSON {"status": "ok"}

  @conformance @server @p26 @req-7.5 @id-client-error-hook
  Scenario: A client error raised through the fault hooks keeps its public message and suggestion
    Given the target is in the conformance profile
    When I raise error 1002 through the fault hooks with the message "Session token expired", the suggestion "Sign in again" and a secret source
    Then the response status is 401
    And the response is a complete error envelope with code "TOKEN_EXPIRED"
    And the error message is "Session token expired"
    And the error suggestion is "Sign in again"
    And the response reveals nothing internal
