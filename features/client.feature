# Concurrent: every scenario runs a client instance of its own and changes nothing on the target.
@client @concurrent
Feature: WASM client
  The target's client renders HTIP streams through its host imports, refuses malformed
  ones without touching the page, keeps its allocations apart and applies delta patches
  that reproduce newer versions (spec/htip.md, spec/client-abi.md, spec/delta.md). The
  client runs in the suite's MockHost; the demo page is any HTIP asset the target lists
  in client.assets.

  @p11 @req-3.4 @id-demo-renders
  Scenario: The target's demo page renders in its client
    Given the target serves a WASM client and a demo page
    When the client renders the current demo page
    Then the client returns 0
    And the host saw exactly the operations the stream encodes

  @p11 @req-3.4 @req-3.5 @id-cut-page
  Scenario Outline: A cut demo page is refused and the page is left alone
    Given the target serves a WASM client and a demo page
    When the client renders the current demo page without its last <bytes> bytes
    Then the client returns the code of TRUNCATED
    And the host saw no page operation

    Examples:
      | bytes |
      | 1     |
      | 20    |
      | 500   |

  @p09 @req-3.2 @id-patch-applies
  Scenario: A patch from the oldest version, applied by the client, gives the current page
    Given the target serves a WASM client and a demo page
    When I fetch the oldest demo page and the patch from it to the current one
    And the client applies the patch to the oldest page
    Then the client's output is the current demo page byte for byte

  @p09 @req-3.2 @id-wrong-base
  Scenario: The patch applied to another version is refused
    Given the target serves a WASM client and a demo page
    When I fetch the oldest demo page and the patch from it to the current one
    And the client applies the patch to the current page instead
    Then the client returns the code of WRONG_BASE

  @p10 @req-3.3 @id-allocations
  Scenario: Regions the client allocates do not overlap
    Given the target serves a WASM client
    When the client allocates 64 regions of 1 to 4096 bytes with alignments 1 to 4096
    Then no two regions overlap and each is aligned inside the memory
