# Concurrent: every scenario stores items in a fresh account of its own; the one that judges
# the pool all share runs alone (@serial).
@query @conformance @concurrent
Feature: Query module
  Items are stored and read through bound parameters only; a burst of requests never makes
  the server hold more database connections than its pool; a failed query answers in the
  envelope with its type, table and operation and nothing internal (spec/query.md,
  spec/http-contract.md "Items").

  @p19 @req-8.2 @id-injection
  Scenario Outline: Injection payloads are stored and found as plain data
    Given the target offers the items API
    When I store an item named "<payload>"
    Then reading it back returns the name "<payload>" byte for byte
    And searching for "<payload>" lists exactly that item
    And another account's item is unchanged

    Examples:
      | case          | payload                                |
      | drop table    | '; DROP TABLE dx_items; --             |
      | or true       | ' OR '1'='1                            |
      | like wildcard | %_                                     |
      | comment       | /* comment */ SELECT                   |
      | bobby tables  | Robert'); DROP TABLE Students;--       |

  @p19 @req-8.2 @req-8.5 @id-read-after-write
  Scenario: A search after a write sees the write
    Given the target offers the items API
    When I store an item named "apple pie"
    Then searching for "pie" lists exactly that item
    When I store an item named "cherry pie"
    Then searching for "pie" lists both items

  # Serial: it judges the pool every request shares, so no other scenario may hold a
  # connection while its burst runs (a query timeout holds one for a second).
  @p20 @req-8.3 @serial @id-pool-burst
  Scenario: A burst of requests stays within the pool
    Given the target offers the items API and its metrics
    When I send 40 listings at once
    Then every listing succeeded
    And the metrics show no more connections than the pool size

  @p21 @req-8.4 @id-duplicate-conflict
  Scenario: A duplicate name is a conflict that names its table and operation
    Given the target offers the items API
    When I store an item named "taken"
    And I store another item with the name of the first and a planted marker
    Then the response is an error envelope with code "DB_CONSTRAINT_VIOLATION"
    And the error details name the type "constraint_violation", the table and the operation "insert"
    And the response reveals nothing internal

  @p21 @req-8.4 @req-8.5 @id-timeout
  Scenario: A query past its timeout answers 504 and the server serves on
    Given the target offers the items API
    When I provoke a query past its timeout
    Then the response is an error envelope with code "DB_QUERY_TIMEOUT"
    And the error details name the type "timeout", the table and the operation "any"
    When I list my items
    Then the response status is 200

  @p21 @req-8.4 @id-hostile-listing
  Scenario Outline: A hostile listing parameter is refused with its name and changes nothing
    Given the target offers the items API
    When I list my items with "<parameters>"
    Then the response is an error envelope with code "VALIDATION_FAILED"
    And the error detail "field" is "<field>"
    And another account's item is unchanged

    Examples:
      | parameters       | field |
      | limit=0          | limit |
      | limit=-1         | limit |
      | limit=1000000000 | limit |
      | limit=ten        | limit |
      | limit=2.5        | limit |
      | after=-1         | after |
      | after=first      | after |
      | q=a&q=b          | q     |
      | q=%00            | q     |
      | sort=name        | sort  |

  @p21 @req-8.4 @id-hostile-item
  Scenario Outline: A hostile item is refused with the member named and changes nothing
    Given the target offers the items API
    When I store an item whose <member> is <shape>
    Then the response is an error envelope with code "VALIDATION_FAILED"
    And the error detail "field" is "<member>"
    And another account's item is unchanged

    Examples:
      | case          | member | shape            |
      | empty name    | name   | empty            |
      | long name     | name   | 257 bytes long   |
      | name with NUL | name   | holding a NUL    |
      | long body     | body   | 16385 bytes long |
      | body with NUL | body   | holding a NUL    |
