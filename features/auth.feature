@auth @p01 @p02 @p04 @p05 @req-1.1 @req-1.2 @req-1.3 @req-1.6 @req-1.7 @conformance
Feature: End-to-end authentication flow
  A user registers, logs in, calls an authenticated route with the access token,
  refreshes, and logs out by revoking (spec/auth.md, spec/tokens.md). Tokens are
  PASETO v4.public; the suite verifies their signatures itself with the keys of
  the discovery document. Accounts come from the register endpoint, which only
  the conformance profile is required to publish.

  Background:
    Given the target offers auth in the conformance profile

  @id-lifecycle
  Scenario: Register, log in, use, refresh and log out
    When I register a new account with the password "correct horse battery staple"
    Then the response status is 201
    When I log in with my email and password
    Then I receive a token pair whose signatures verify under the published keys
    When I call the authenticated route with my access token
    Then the response status is 200
    And the authenticated route speaks for my account
    When I refresh my tokens
    Then I receive a token pair whose signatures verify under the published keys
    When I call the authenticated route with my access token
    Then the response status is 200
    When I revoke my access token
    Then the response status is 200
    And the response body is the JSON {}
    When I call the authenticated route with my access token
    Then the response is an error envelope with code "TOKEN_REVOKED"
    And the response has a non-empty "WWW-Authenticate" header
    When I revoke my refresh token
    And I refresh my tokens
    Then the response is an error envelope with code "TOKEN_REVOKED"

  @id-refresh-replay
  Scenario: A replayed refresh token ends its family
    When I register a new account with the password "replay me"
    And I log in with my email and password
    Then I receive a token pair whose signatures verify under the published keys
    When I refresh my tokens
    Then I receive a token pair whose signatures verify under the published keys
    When I present my previous refresh token again
    Then the response is an error envelope with code "TOKEN_REVOKED"
    When I refresh my tokens
    Then the response is an error envelope with code "TOKEN_REVOKED"

  @id-token-tamper
  Scenario: A token works only unchanged and only for its use
    When I register a new account with the password "only as issued"
    And I log in with my email and password
    Then I receive a token pair whose signatures verify under the published keys
    When I call the authenticated route with my access token, one bit of its signature flipped
    Then the response is an error envelope with code "TOKEN_INVALID"
    When I call the authenticated route with my refresh token
    Then the response is an error envelope with code "TOKEN_INVALID"
    When I call the authenticated route with my access token
    Then the response status is 200

  @id-bad-credentials
  Scenario Outline: Bad credentials are refused alike
    When I register a new account with the password "the right password"
    And I log in with <credentials>
    Then the response status is 401
    And the response is an error envelope with code "INVALID_CREDENTIALS"
    And the response reveals nothing internal

    Examples:
      | case           | credentials                                   |
      | wrong password | my email and the password "the wrong password" |
      | unknown email  | an unknown email and the password "whatever"  |
      | SQL in email   | the email "'or'1'='1@x.test" and the password "' OR '1'='1" |

  @id-hostile-tokens
  Scenario Outline: Hostile tokens are refused
    When I call the authenticated route with <token>
    Then the response status is 401
    And the response is an error envelope with code "TOKEN_INVALID"
    And the response has a non-empty "WWW-Authenticate" header

    Examples:
      | case             | token                                  |
      | no token         | no Authorization header                |
      | garbage          | the token "garbage"                    |
      | v4.local         | the token "v4.local.AAAAAAAAAAAAAAAA"  |
      | v2.public        | the token "v2.public.AAAAAAAAAAAAAAAA" |
      | too long         | a token of 10000 characters            |

  @id-password-rules
  Scenario Outline: Passwords outside the rules are refused before any account is looked up
    When I register with a password of <bytes> bytes
    Then the response status is 422
    And the error detail "field" is "password"

    Examples:
      | case  | bytes |
      | empty | 0     |
      | long  | 1025  |
