# Concurrent: every scenario has users and a channel of its own.
@sync @conformance @concurrent
Feature: Sync refusals and hostile input
  The sync endpoint (spec/sync.md) refuses what it cannot accept, as its
  "Connecting" section and its "Refusals" table say: an upgrade without a valid
  token before switching protocols, frames it cannot read, channel names outside
  the rule, payloads, subscriptions and publishes beyond the limits the `sync`
  member publishes, and a token that stops holding while the connection is open.
  A refusal that does not close the connection leaves it usable, and none touches
  another connection. Every limit is read from the discovery document; users come
  from the conformance mint hook or, without it, from the test accounts given
  (--account), and what needs a token of a chosen lifetime needs the hook.
  The tag sync-waits marks what waits out a publish window or a token check
  (seconds); sync-immediate marks what answers at once.

  Background:
    Given the target offers sync to users the suite can connect

  @req-9.1 @sync-immediate @id-upgrade-no-token
  Scenario: An upgrade without a token is refused with 401 before switching protocols
    When I ask to upgrade to the sync endpoint without a token
    Then the response status is 401
    And the response is an error envelope with code "TOKEN_INVALID"
    And the response challenges the client with the "Bearer" scheme

  @req-9.1 @sync-immediate @id-upgrade-bad-token
  Scenario Outline: An upgrade whose token does not hold is refused with its token code
    When I ask to upgrade to the sync endpoint with <token> in <place>
    Then the response status is 401
    And the response is an error envelope with code "<code>"
    And the response challenges the client with the "Bearer" scheme

    Examples:
      | case                 | token                                                | place                    | code          |
      | garbage bearer       | the text "garbage"                                   | the Authorization header | TOKEN_INVALID |
      | garbage subprotocol  | the text "garbage"                                   | the subprotocol list     | TOKEN_INVALID |
      | refresh token        | a refresh token                                      | the Authorization header | TOKEN_INVALID |
      | forged signature     | an access token with one bit of its signature flipped | the subprotocol list     | TOKEN_INVALID |
      | expired              | an expired access token                              | the subprotocol list     | TOKEN_EXPIRED |
      | revoked              | a revoked access token                               | the Authorization header | TOKEN_REVOKED |
      | revoked subprotocol  | a revoked access token                               | the subprotocol list     | TOKEN_REVOKED |

  @req-9.1 @sync-immediate @id-not-an-upgrade
  Scenario: A GET that is not an upgrade is answered 400
    When I send a GET that is not an upgrade to the sync endpoint
    Then the response status is 400
    And the response is an error envelope with code "BAD_REQUEST"

  @req-9.1 @sync-immediate @id-token-subprotocol
  Scenario: A browser's token may come as a dx-token. subprotocol, and dx-sync.1 is selected
    When I connect to the sync endpoint with no Authorization header, offering the subprotocols dx-sync.1 and dx-token. followed by my token
    Then the server selected the subprotocol "dx-sync.1"
    And my connection answers a SUBSCRIBE

  @req-9.1 @sync-immediate @id-bearer-subprotocol
  Scenario: A connection with a Bearer token that offers dx-sync.1 gets it selected
    When I connect to the sync endpoint with my token as Bearer, offering the subprotocol dx-sync.1
    Then the server selected the subprotocol "dx-sync.1"
    And my connection answers a SUBSCRIBE

  @sync-immediate @id-text-frame
  Scenario: A text frame gets ERROR 4000 and close 1003, and no other connection notices
    Given I am connected to the sync endpoint
    And another user is connected and subscribed to my channel
    When I send the text frame '{"op":"subscribe","channel":"lobby"}'
    Then I receive ERROR 4000 for request 0
    And the server closes the connection with 1003
    And the other user's connection is unaffected

  @sync-immediate @id-frame-too-long
  Scenario Outline: A frame longer than max_payload + 1024 bytes gets ERROR 4013 and close 1009
    Given I am connected to the sync endpoint
    And another user is connected and subscribed to my channel
    When I send a PUBLISH frame of <size> bytes to my channel
    Then I receive ERROR 4013, for that request or for request 0
    And the server closes the connection with 1009
    And the other user's connection is unaffected

    Examples:
      | case            | size                          |
      | one byte over   | max_payload + 1025            |
      | four times over | 4 × (max_payload + 1024) + 1  |

  @sync-immediate @id-frame-at-limit
  Scenario: A frame of exactly max_payload + 1024 bytes is read: its payload gets 4013, the connection stays open
    Given I am connected to the sync endpoint
    When I send a PUBLISH frame of max_payload + 1024 bytes to my channel
    Then I receive ERROR 4013 for that request on its channel
    And my connection answers a SUBSCRIBE

  # 305419896 is 0x12345678, the request the malformed frames carry where they get that
  # far: an ERROR that echoed its bytes in another order would show.
  @sync-immediate @id-malformed-frame
  Scenario Outline: A malformed frame gets ERROR 4000 and the connection stays open
    Given I am connected to the sync endpoint
    When I send a frame that is <frame>
    Then I receive ERROR 4000 for request <request>
    And my connection answers a SUBSCRIBE

    Examples:
      | case                 | frame                                            | request   |
      | empty                | empty                                            | 0         |
      | unknown opcode       | the unknown opcode 0x06                          | 0         |
      | opcode zero          | the unknown opcode 0x00                          | 0         |
      | server's opcode      | a WELCOME, a frame only a server sends           | 0         |
      | cut in the request   | a SUBSCRIBE cut inside its request               | 0         |
      | cut in the channel   | a SUBSCRIBE cut inside its channel               | 305419896 |
      | cut in the payload   | a PUBLISH cut inside its payload                 | 305419896 |
      | trailing byte        | a SUBSCRIBE with a byte after its channel        | 305419896 |
      | trailing byte, PUB   | a PUBLISH with a byte after its payload          | 305419896 |
      | flag bit 1           | a PUBLISH with flag bit 1 set                    | 305419896 |
      | flag bit 7           | a PUBLISH with flag bit 7 set                    | 305419896 |
      | RESUME count         | a RESUME announcing two channels and holding one | 305419896 |

  @sync-immediate @id-bad-channel
  Scenario Outline: A channel name outside the rule gets ERROR 4001 and the connection stays open
    Given I am connected to the sync endpoint
    When I send <frame> naming the channel <name>
    Then I receive ERROR 4001 for that request
    And my connection answers a SUBSCRIBE

    Examples:
      | case             | frame          | name                  |
      | empty            | a SUBSCRIBE    | ""                    |
      | 129 bytes        | a SUBSCRIBE    | "c" × 129             |
      | space            | a PUBLISH      | "a b"                 |
      | slash            | a PRESENCE     | "a/b"                 |
      | non-ASCII letter | an UNSUBSCRIBE | "café"                |
      | NUL byte         | a SUBSCRIBE    | the bytes 61 00 62    |
      | invalid UTF-8    | a PUBLISH      | the bytes 72 6f ff fe |

  @sync-immediate @id-resume-duplicate-channel
  Scenario: A RESUME that lists a channel twice gets ERROR 4001 and the connection stays open
    Given I am connected to the sync endpoint
    When I send a RESUME of my session that lists my channel twice
    Then I receive ERROR 4001 for that request on its channel
    And my connection answers a SUBSCRIBE

  @sync-immediate @id-longest-channel
  Scenario: A channel name of 128 bytes using every allowed kind of character is subscribed
    Given I am connected to the sync endpoint
    When I subscribe to a channel whose name is 128 bytes of every allowed kind of character
    Then it is answered SUBSCRIBED

  @sync-immediate @id-payload-limit
  Scenario: A payload of max_payload bytes is delivered; one byte more gets ERROR 4013 and is not
    Given I am connected to the sync endpoint
    And another user is connected and subscribed to my channel
    When I publish a payload of max_payload bytes to my channel, asking for acknowledgment
    Then I receive ACK for that request on my channel
    And the other user receives that payload on my channel
    When I publish a payload of max_payload + 1 bytes to my channel, asking for acknowledgment
    Then I receive ERROR 4013 for that request on its channel
    And the other user receives nothing more on my channel
    And my connection answers a SUBSCRIBE

  @sync-immediate @id-channel-limit
  Scenario: A subscription beyond max_channels gets ERROR 5003, and the earlier ones hold
    Given I am connected to the sync endpoint
    And I am subscribed to max_channels channels of my own
    When I subscribe to my first channel again
    Then it is answered SUBSCRIBED at the same start as before
    When I subscribe to one channel more
    Then I receive ERROR 5003 for that request on its channel
    And the refused channel's presence list does not name me
    When another user publishes to the refused channel, then to my first and my last channel
    Then I receive the messages of my first and my last channel, and none of the refused one
    And another connection of mine can still subscribe to the refused channel
    When I unsubscribe from my first channel
    Then I receive UNSUBSCRIBED for that request and channel
    When I subscribe to the refused channel again
    Then it is answered SUBSCRIBED

  @sync-waits @id-publish-flood
  Scenario: A publish flood beyond publish_limit gets ERROR 1005 per refused publish; a subscriber gets the rest
    Given I am connected to the sync endpoint
    And another user is connected and subscribed to my channel
    When I publish publish_limit.max_messages + 20 messages to my channel at once, each asking for acknowledgment
    Then the first publish_limit.max_messages publishes were acknowledged
    And each publish beyond the limit in its window got ERROR 1005 for its request on my channel
    And the other user received exactly the acknowledged messages, in order, each once
    And the other user's connection is unaffected
    When the publish window has passed
    Then a publish of mine is acknowledged again

  @sync-waits @id-token-lapses
  Scenario Outline: A token that stops holding gets ERROR and close 4001 within token_check_seconds
    Given I am connected to the sync endpoint with an access token valid for <ttl> seconds
    And another user is connected and subscribed to my channel
    When my access token <lapses>
    Then within token_check_seconds I receive ERROR <code> for request 0
    And the server closes the connection with 4001
    And the other user's connection is unaffected

    Examples:
      | case    | ttl | lapses     | code |
      | revoked | 600 | is revoked | 1004 |
      | expired | 3   | expires    | 1002 |

  @sync-immediate @id-nobody-subscribed
  Scenario: PRESENCE and UNSUBSCRIBE of a channel nobody is subscribed to are answered normally
    Given I am connected to the sync endpoint
    When I ask for the presence on a channel nobody is subscribed to
    Then I receive an empty PRESENCE_LIST for that request and channel
    When I unsubscribe from that channel
    Then I receive UNSUBSCRIBED for that request and channel
    And my connection answers a SUBSCRIBE
